"""Stripe's own description of its API (``stripe_spec.json``), and checks of objects against it.

``stripe_spec.json`` is written by ``scripts/extract_stripe_schemas.py`` from Stripe's
OpenAPI spec and the ``stripe`` SDK's generated classes (provenance inside). An object
matches Stripe when

- it validates against the spec's component schema for its ``object`` type (OpenAPI 3.0,
  ``nullable`` included, by ``openapi-schema-validator``), except that a field the SDK's
  class no longer declares is not required (a later API version removed it);
- it has every top-level field the SDK declares non-optional (the SDK speaks a newer API
  version than the spec file, so its required fields are the newer truth);
- it invents no field: every key is one the spec's schema lists, or (top level) one the
  SDK's class declares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

SPEC_FILE = Path(__file__).with_name("stripe_spec.json")


@cache
def spec() -> dict[str, Any]:
    """Return the extracted description (schemas, routes, SDK fields, error codes)."""
    document = json.loads(SPEC_FILE.read_text())
    document["schemas"] = _null_allowed(document["schemas"])
    _drop_removed_fields(document)
    return document


def _drop_removed_fields(document: dict[str, Any]) -> None:
    """Stop requiring a top-level field the SDK's class no longer declares: a later API
    version removed it (the Invoice's ``paid``, ``paid_out_of_band`` and ``total_tax_amounts``
    gave way to ``status``, ``amount_paid`` and ``total_taxes``; an invoice line's ``type``
    and ``proration`` moved under ``parent``). The SDK speaks the API the stand-in serves."""
    for name, sdk in document["sdk_objects"].items():
        schema = document["schemas"][name]
        if "required" in schema:
            schema["required"] = [field for field in schema["required"] if field in sdk["fields"]]


def _null_allowed(node: Any) -> Any:
    """Read ``nullable: true`` beside ``anyOf`` as Stripe means it: null is allowed.

    OpenAPI 3.0.3 gives ``nullable`` a meaning only next to ``type`` (and wants ``null`` in a
    nullable enum's values), but Stripe's spec puts it beside ``anyOf`` for every nullable
    expandable field and beside enums without ``null`` (its SDK types them all Optional).
    """
    if isinstance(node, list):
        return [_null_allowed(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _null_allowed(value) for key, value in node.items()}
    if result.get("nullable") is True and "anyOf" in result and "type" not in result:
        result["anyOf"] = [*result["anyOf"], {"enum": [None]}]
    if result.get("nullable") is True and "enum" in result and None not in result["enum"]:
        result["enum"] = [*result["enum"], None]  # likewise: a nullable enum admits null
    return result


@cache
def validator(schema_name: str) -> OAS30Validator:
    """Return a validator for one component schema, its references resolved in the spec."""
    document = {"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": spec()["schemas"]}}
    return OAS30Validator(document)


def schema_for(obj: dict[str, Any]) -> str | None:
    """Return the schema name for a Stripe object (``{"deleted": true}`` ones included)."""
    kind = obj.get("object")
    if kind is None:
        return "error" if set(obj) == {"error"} else None
    if obj.get("deleted") is True and f"deleted_{kind}" in spec()["schemas"]:
        return f"deleted_{kind}"
    return kind if kind in spec()["schemas"] else None


@dataclass
class Fidelity:
    """Objects checked against Stripe's description, and every way they differ from it."""

    objects: int = 0
    events: int = 0
    errors: int = 0
    requests: int = 0  # requests sent to probe parameters, whose answer was checked
    honoured: int = 0  # Stripe parameters the stand-in implements
    unimplemented: int = 0  # Stripe parameters it refuses as not implemented
    mismatches: list[str] = field(default_factory=list)

    def add(self, other: Fidelity) -> None:
        """Add another run's figures to these."""
        self.objects += other.objects
        self.events += other.events
        self.errors += other.errors
        self.requests += other.requests
        self.honoured += other.honoured
        self.unimplemented += other.unimplemented
        self.mismatches.extend(other.mismatches)

    def summary(self) -> str:
        """Return the figures as one line."""
        return (
            f"Stripe fidelity: objects checked: {self.objects} (events: {self.events}, "
            f"error bodies: {self.errors}), parameter probes: {self.requests} "
            f"(Stripe parameters implemented: {self.honoured}, refused as not implemented: "
            f"{self.unimplemented}), mismatches: {len(self.mismatches)}"
        )

    def check(self, obj: Any, where: str) -> None:
        """Check one API answer or event: the object, each item of a list, an error body."""
        if isinstance(obj, dict) and obj.get("object") == "list":
            self._check_list(obj, where)
            return
        name = schema_for(obj) if isinstance(obj, dict) else None
        if name is None:
            self.mismatches.append(f"{where}: not a Stripe object: {str(obj)[:200]}")
            return
        if name == "error":
            self.errors += 1
            self._check_error(obj, where)
        else:
            self.objects += 1
        self.mismatches.extend(mismatches(obj, name, where))
        if name == "event":
            self.events += 1
            self.check(obj["data"]["object"], f"{where} data.object")

    def _check_list(self, envelope: dict[str, Any], where: str) -> None:
        if set(envelope) != {"object", "data", "has_more", "url"} or not isinstance(
            envelope["has_more"], bool
        ):
            self.mismatches.append(f"{where}: list envelope {sorted(envelope)}")
        for index, item in enumerate(envelope.get("data", [])):
            self.check(item, f"{where} data[{index}]")

    def _check_error(self, body: dict[str, Any], where: str) -> None:
        error = body["error"]
        if None in error.values():
            self.mismatches.append(f"{where}: error with a null field: {error}")
        code = error.get("code")
        if code is not None and code not in spec()["error_codes"]:
            self.mismatches.append(f"{where}: error code {code!r} is not one of Stripe's")


# What the whole test run checked, printed by the terminal summary (tests/emulators/conftest.py).
TOTALS = Fidelity()


def mismatches(obj: dict[str, Any], name: str, where: str) -> list[str]:
    """Return how ``obj`` differs from Stripe's schema ``name`` (empty when it matches)."""
    found = [
        f"{where} ({name}) {'/'.join(map(str, error.absolute_path)) or '.'}: {error.message[:300]}"
        for error in validator(name).iter_errors(obj)
    ]
    sdk = spec()["sdk_objects"].get(name)
    if sdk is not None:
        missing = sorted(set(sdk["required"]) - set(obj))
        if missing:
            found.append(f"{where} ({name}): missing fields the SDK requires: {missing}")
    found.extend(_invented(obj, {"$ref": f"#/components/schemas/{name}"}, where, top=name))
    return found


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec()["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _invented(value: Any, schema: dict[str, Any], where: str, top: str | None = None) -> list[str]:
    """Return the keys of ``value`` (recursively) that its schema does not list."""
    schema = _resolve(schema)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        for branch in branches:
            if OAS30Validator({**_resolve(branch), "components": {"schemas": spec()["schemas"]}}).is_valid(
                value
            ):
                return _invented(value, branch, where)
        return []  # the validator already reported it
    if isinstance(value, list):
        item = schema.get("items", {})
        return [problem for i, v in enumerate(value) for problem in _invented(v, item, f"{where}[{i}]")]
    if not isinstance(value, dict) or "properties" not in schema or schema.get("additionalProperties"):
        return []
    known = set(schema["properties"])
    sdk = spec()["sdk_objects"].get(top or str(value.get("object")))
    if sdk is not None:
        known |= set(sdk["fields"])
    problems = [
        f"{where}: field {key!r} is not in Stripe's {top or 'schema'}" for key in value if key not in known
    ]
    for key, item in value.items():
        if key in schema["properties"]:
            problems.extend(_invented(item, schema["properties"][key], f"{where}.{key}"))
    return problems
