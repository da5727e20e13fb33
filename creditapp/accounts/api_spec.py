"""The OpenAPI declarations of the accounts routes under `/api/` (assembled by `creditapp.api.openapi`)."""

from __future__ import annotations

from typing import Any

from creditapp.platform.api_spec import RATE_LIMITED, json_answer, ref

SCHEMAS: dict[str, dict[str, Any]] = {
    "Credits": {
        "type": "object",
        "required": ["credits", "held"],
        "additionalProperties": False,
        "properties": {
            "credits": {"type": "integer", "description": "The balance (negative after a refund clawback)."},
            "held": {"type": "integer", "minimum": 0, "description": "Credits held by jobs still running."},
        },
    },
}

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "account.api_credits": {
        "get": {
            "tags": ["credits"],
            "responses": {"200": json_answer(ref("Credits"), "The balance."), "429": RATE_LIMITED},
        }
    },
}
