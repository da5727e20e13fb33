"""A feature's input checked against its JSON Schema (with `jsonschema`).

The schema is the one source: the API body and the form post are both checked against it,
the page's form is generated from it (`forms`) and the OpenAPI entry is it
(`creditapp.features.api_spec`). Before the check, values are brought to the schema's types
the way a form sends them: text is trimmed; a string of digits is a number where the
schema wants an integer (a form posts nothing but strings); an empty value of an optional
field means "not given", so its `default` applies. Then `jsonschema` (Draft 2020-12) checks
it, and the first problem, in the order the schema lists its properties, becomes the
`InvalidInput` the person reads. A property may word its own problems in `x-messages`
(JSON Schema keyword → message; `{label}`, `{limit}`, `{length}`, `{choices}` and `{got}`
are filled in); the OpenAPI document leaves that keyword out.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from creditapp.platform.input_checks import InvalidInput

MESSAGES_KEYWORD = "x-messages"
# A `pattern` for "not only spaces" that both regex engines read alike. Text is trimmed
# before the check (Python's idea of a space); ECMA-262's `\S`, which the API document's
# readers use, counts \x1c-\x1f and \x85 as text and \ufeff as a space, so a plain "\S"
# would let them send "\x1e", which the trim empties.
NOT_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"
INTEGER = re.compile(r"[+-]?\d{1,18}")
# Which problem of one field is told first.
RANK = {
    "required": 0,
    "type": 1,
    "enum": 2,
    "const": 2,
    "minLength": 3,
    "maxLength": 4,
    "pattern": 5,
    "format": 6,
    "minimum": 7,
    "maximum": 7,
    "exclusiveMinimum": 7,
    "exclusiveMaximum": 7,
    "multipleOf": 8,
    "additionalProperties": 9,
}
KINDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}
DEFAULT_MESSAGES = {
    "required": "{label} is missing.",
    "type": "{label} must be {kind}.",
    "enum": "{label} must be one of {choices}.",
    "const": "{label} must be {choices}.",
    "maxLength": "{label} is {length} characters long; the limit is {limit}.",
    "pattern": "{label} is not in the expected form.",
    "format": "{label} is not a valid {limit}.",
    "minimum": "{label} must be at least {limit}.",
    "maximum": "{label} must be at most {limit}.",
    "exclusiveMinimum": "{label} must be more than {limit}.",
    "exclusiveMaximum": "{label} must be less than {limit}.",
    "multipleOf": "{label} must be a multiple of {limit}.",
}
_MISSING = object()


def check_schema(schema: Mapping[str, Any], owner: str) -> None:
    """Refuse (at start) a schema that is not an object schema `jsonschema` accepts."""
    Draft202012Validator.check_schema(schema)
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise TypeError(f"{owner}.schema must be a JSON Schema of type object with properties")


def properties(schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The schema's properties, in the order it lists them."""
    return dict(schema.get("properties") or {})


def label(name: str, spec: Mapping[str, Any]) -> str:
    """What a person calls a field: its `title`, else its name in words."""
    return str(spec.get("title") or name.replace("_", " ").capitalize())


def defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Each property's `default`, where it has one."""
    return {
        name: copy.deepcopy(spec["default"]) for name, spec in properties(schema).items() if "default" in spec
    }


def validate(schema: Mapping[str, Any], raw: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """The input checked against the schema, with defaults filled in; InvalidInput otherwise.

    `partial`: check only the fields given (a price quote for a half-filled form).
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput("Send a JSON object.", field=None)
    data = coerce(schema, raw, partial)
    checked = schema
    if partial:
        checked = {key: value for key, value in schema.items() if key != "required"}
    problems = sorted(_problems(checked, data), key=lambda p: (p.order, p.rank))
    if problems:
        first = problems[0]
        raise InvalidInput(first.message, field=first.field)
    return {**defaults(schema), **data}


def coerce(schema: Mapping[str, Any], raw: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """Bring the values to the schema's types as a form sends them (see the module docstring).

    `partial`: an empty value of any field is "not given" (a half-filled form's quote).
    """
    props = properties(schema)
    required = set() if partial else set(schema.get("required") or ())
    data: dict[str, Any] = {}
    for name, value in raw.items():
        spec = props.get(name)
        if spec is None:
            data[name] = value  # not a field: additionalProperties says so
            continue
        coerced = _coerce(spec, value, name in required)
        if coerced is not _MISSING:
            data[name] = coerced
    return data


def types_of(spec: Mapping[str, Any]) -> set[str]:
    kind = spec.get("type")
    if kind is None and "enum" in spec:
        return {_json_type(value) for value in spec["enum"]}
    return {kind} if isinstance(kind, str) else set(kind or ())


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _coerce(spec: Mapping[str, Any], value: Any, required: bool) -> Any:
    types = types_of(spec)
    if isinstance(value, str):
        value = value.strip()
        if value == "" and (not required or "string" not in types):
            return _MISSING
        if "string" in types:
            return value
        if "integer" in types and INTEGER.fullmatch(value):
            return int(value)
        if "number" in types:
            try:
                number = float(value)
            except ValueError:
                return value
            return number if math.isfinite(number) else value
        if "boolean" in types and value.lower() in ("true", "on", "1", "yes", "false", "off", "0", "no"):
            return value.lower() in ("true", "on", "1", "yes")
        return value
    if isinstance(value, float) and value.is_integer() and "integer" in types and "number" not in types:
        return int(value)
    return value


@dataclass(frozen=True)
class _Problem:
    order: int
    rank: int
    field: str | None
    message: str


def _problems(schema: Mapping[str, Any], data: dict[str, Any]) -> list[_Problem]:
    props = properties(schema)
    order = {name: index for index, name in enumerate(props)}
    found = [
        _Problem(
            order.get(name, len(props)), RANK["required"], name, _message("required", name, props.get(name))
        )
        for name in schema.get("required") or ()
        if name not in data
    ]
    for error in Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).iter_errors(
        data
    ):
        if error.validator == "required":
            continue  # told above, one per missing field
        if error.validator == "additionalProperties" and not error.path:
            for name in data:
                if name not in props:
                    choices = ", ".join(props)
                    message = f"“{name[:40]}” is not a field this takes (it takes {choices})."
                    found.append(_Problem(len(props), RANK["additionalProperties"], name, message))
            continue
        name = str(error.path[0]) if error.path else None
        spec = props.get(name) if name is not None else None
        rank = RANK.get(str(error.validator), 10)
        found.append(_Problem(order.get(name, len(props)), rank, name, _message_for(error, name, spec)))
    return found


def _message_for(error: ValidationError, name: str | None, spec: Mapping[str, Any] | None) -> str:
    if name is None or spec is None or len(error.path) != 1:
        return error.message
    return _message(str(error.validator), name, spec, error.instance, error.validator_value)


def _message(
    keyword: str, name: str, spec: Mapping[str, Any] | None, got: Any = None, limit: Any = None
) -> str:
    spec = spec or {}
    own = (spec.get(MESSAGES_KEYWORD) or {}).get(keyword)
    template = own or DEFAULT_MESSAGES.get(keyword)
    if keyword == "minLength" and not own:
        template = "{label} is empty." if limit == 1 else "{label} must be at least {limit} characters long."
    if template is None:
        return f"{label(name, spec)} is not valid."
    choices = spec.get("enum", [spec["const"]] if "const" in spec else [])
    kinds = [KINDS.get(kind, kind) for kind in sorted(types_of(spec))]
    return template.format(
        label=label(name, spec),
        limit=limit,
        length=len(got) if isinstance(got, str) else "",
        choices=", ".join(str(choice) for choice in choices),
        got=str(got)[:20],
        kind=" or ".join(kinds) or "a value",
    )


def for_openapi(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as the OpenAPI document shows it: without the messages' wording."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: strip(value) for key, value in node.items() if key != MESSAGES_KEYWORD}
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    return strip(copy.deepcopy(dict(schema)))
