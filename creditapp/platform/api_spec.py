"""The pieces each domain declares its `/api/` routes with, for the OpenAPI document.

A domain that serves `/api/…` routes declares them in its own `api_spec.py`: `OPERATIONS`
(endpoint -> method -> what the code alone cannot say: bodies, answers) and `SCHEMAS` (the
components they refer to by name). `creditapp.api.openapi` assembles those declarations;
the domains never import `api`, so the shared pieces live here.
"""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_answer(schema: dict[str, Any], description: str, headers: dict | None = None) -> dict[str, Any]:
    """An answer with a JSON body of `schema` (and `headers`, if any)."""
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def error_answer(description: str, headers: dict | None = None) -> dict[str, Any]:
    """An answer with the common error body (`platform.errors.error_response`)."""
    return json_answer(ref("Error"), description, headers)


SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable code, e.g. `invalid_token`, `not_found`."},
            "message": {"type": "string", "description": "What happened, for a person."},
        },
    },
    # A 422: a field, query argument or header the route cannot take (or text no database
    # stores, which `platform.input_checks` refuses on every route). Nothing was written.
    "InputError": {
        "type": "object",
        "required": ["error", "message", "field"],
        "properties": {
            "error": {"const": "invalid_input"},
            "message": {"type": "string"},
            "field": {"type": ["string", "null"]},
        },
    },
}

NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
CHALLENGE = {"WWW-Authenticate": {"description": "`Bearer …` (RFC 6750).", "schema": {"type": "string"}}}
RATE_LIMITED = error_answer("Too many requests for this key or user.", RETRY_AFTER)

# Platform serves no `/api/` route; it declares only the schema every error answer refers to.
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {}
