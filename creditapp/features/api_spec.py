"""What a paid feature's spend endpoint may answer besides its job, for the OpenAPI document.

Each feature declares its own route in its subpackage (`image/api_spec.py`); these are the
answers they share: not enough credits, the key's monthly limit (a bad input is the
platform's `InputError`).
"""

from __future__ import annotations

from typing import Any

SCHEMAS: dict[str, dict[str, Any]] = {
    "InsufficientCredits": {
        "type": "object",
        "required": ["error", "message", "credits", "required"],
        "properties": {
            "error": {"const": "insufficient_credits"},
            "message": {"type": "string"},
            "credits": {"type": "integer"},
            "required": {"type": "integer"},
        },
    },
    "KeyLimitReached": {
        "type": "object",
        "required": ["error", "message", "limit", "spent", "required"],
        "properties": {
            "error": {"const": "key_limit_reached"},
            "message": {"type": "string"},
            "limit": {"type": "integer", "description": "The key's monthly credit limit."},
            "spent": {"type": "integer", "description": "Held and captured this calendar month (UTC)."},
            "required": {"type": "integer"},
        },
    },
}

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {}
