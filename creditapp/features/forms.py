"""A feature's page form, generated from its JSON Schema, and a form post read back.

string → text input (a textarea past `TEXTAREA_OVER` characters), integer or number →
number input with its min and max, enum → select, boolean → checkbox; labelled by each
property's `title`, helped by its `description` (`templates/features/feature.html` draws them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from creditapp.features.inputs import label, properties, types_of, validate
from creditapp.platform.input_checks import InvalidInput

TEXTAREA_OVER = 200  # a string field allowing more than this many characters is a textarea


@dataclass(frozen=True)
class Field:
    """One input of a generated form."""

    name: str
    label: str
    help: str
    widget: str  # textarea, text, number, select, checkbox
    required: bool
    value: Any
    options: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def checked(self) -> bool:
        """A checkbox's state."""
        return self.value in (True, "on", "true", "1", "yes")


def form_fields(schema: Mapping[str, Any], values: Mapping[str, Any]) -> list[Field]:
    """The form for a schema: string → text input (textarea when maxLength > 200), integer or
    number → number input with its min and max, enum → select, boolean → checkbox; each
    labelled by its `title` and helped by its `description`. `values`: what to show in it."""
    required = set(schema.get("required") or ())
    found = []
    for name, spec in properties(schema).items():
        types = types_of(spec)
        value = values.get(name, spec.get("default", ""))
        attrs: dict[str, Any] = {}
        options: list[tuple[str, str]] = []
        if "enum" in spec:
            widget = "select"
            options = [(str(choice), str(choice)) for choice in spec["enum"]]
        elif "boolean" in types:
            widget = "checkbox"
        elif types & {"integer", "number"}:
            widget = "number"
            integer = "integer" in types and "number" not in types
            attrs["step"] = 1 if integer else "any"
            if "minimum" in spec:
                attrs["min"] = spec["minimum"]
            elif "exclusiveMinimum" in spec and integer:
                attrs["min"] = spec["exclusiveMinimum"] + 1
            if "maximum" in spec:
                attrs["max"] = spec["maximum"]
            elif "exclusiveMaximum" in spec and integer:
                attrs["max"] = spec["exclusiveMaximum"] - 1
        else:
            widget = "textarea" if int(spec.get("maxLength") or 0) > TEXTAREA_OVER else "text"
            if "minLength" in spec:
                attrs["minlength"] = spec["minLength"]
            if "maxLength" in spec:
                attrs["maxlength"] = spec["maxLength"]
        found.append(
            Field(
                name=name,
                label=label(name, spec),
                help=str(spec.get("description") or ""),
                widget=widget,
                required=name in required and widget != "checkbox",
                value="" if value is None else value,
                options=options,
                attrs=attrs,
            )
        )
    return found


def from_form(schema: Mapping[str, Any], form: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """The schema's fields out of a form post (other fields, the CSRF token and the form's key,
    are not input); an unticked checkbox is sent as nothing, so it is false (unless `partial`:
    a price quote's query, where a field not sent is simply not given)."""
    raw: dict[str, Any] = {}
    for name, spec in properties(schema).items():
        value = form.get(name)
        if "boolean" in types_of(spec) and "enum" not in spec and not (partial and value is None):
            raw[name] = "true" if value not in (None, "", "false", "off", "0") else "false"
        elif value is not None:
            raw[name] = value
    return raw


def shown_values(schema: Mapping[str, Any], raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a form sent back shows, field by field, and the part of it that is valid.

    A valid value is shown as the schema's type (a size as the number it is); an invalid
    text as it was typed (so nothing typed is lost); any other invalid value as its default.
    """
    props = properties(schema)
    shown: dict[str, Any] = {}
    valid: dict[str, Any] = {}
    for name, value in raw.items():
        spec = props.get(name)
        if spec is None:
            continue
        try:
            checked = validate({"type": "object", "properties": {name: spec}}, {name: value})
        except InvalidInput:
            if "string" in types_of(spec) and isinstance(value, str):
                shown[name] = value
            elif "default" in spec:
                shown[name] = spec["default"]
            continue
        if name in checked:
            shown[name] = valid[name] = checked[name]
    return shown, valid
