"""The OpenAPI declarations of History's routes under `/api/` (assembled by `creditapp.api.openapi`)."""

from __future__ import annotations

from typing import Any

from creditapp.history.usage import GROUPINGS, MAX_DAYS
from creditapp.platform.api_spec import RATE_LIMITED, error_answer, json_answer, ref

DAY = {"type": "string", "format": "date"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Usage": {
        "type": "object",
        "required": ["from", "to", "group_by", "total", "rows"],
        "additionalProperties": False,
        "properties": {
            "from": {**DAY, "description": "The first UTC day counted."},
            "to": {**DAY, "description": "The last UTC day counted (included)."},
            "group_by": {"type": "string", "enum": list(GROUPINGS)},
            "total": {"type": "integer", "minimum": 0, "description": "Credits spent over the range."},
            "rows": {
                "type": "array",
                "items": ref("UsageRow"),
                "description": "`day`: every day of the range, oldest first, zeros included. "
                "`feature`, `key` and `member`: only those that spent, most credits first.",
            },
        },
    },
    "UsageRow": {
        "type": "object",
        "required": ["key", "label", "credits", "uses"],
        "additionalProperties": False,
        "properties": {
            "key": {
                "type": "string",
                "description": "The day (YYYY-MM-DD), the feature's name, the API key's prefix "
                "(`browser` for spends made in the browser), or the member's e-mail address.",
            },
            "label": {
                "type": "string",
                "description": "For a person: the day, the feature's title, the key's name and "
                "prefix (`Browser`), or the member's name and e-mail address.",
            },
            "credits": {"type": "integer", "minimum": 0, "description": "Credits charged."},
            "uses": {"type": "integer", "minimum": 0, "description": "Captured spends."},
        },
    },
}

USAGE_PARAMETERS = [
    {
        "name": "from",
        "in": "query",
        "required": False,
        "description": "The first UTC day (default: 29 days before `to`). On or before `to`.",
        "schema": DAY,
    },
    {
        "name": "to",
        "in": "query",
        "required": False,
        "description": f"The last UTC day, included (default: today). At most {MAX_DAYS} days "
        "from `from`, both counted.",
        "schema": DAY,
    },
    {
        "name": "group_by",
        "in": "query",
        "required": False,
        "description": "Credits by `day` (the default), `feature`, API `key` or `member` (who "
        "spent: on an organization's wallet, every member for a key made by an owner or admin).",
        "schema": {"type": "string", "enum": list(GROUPINGS)},
    },
]

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "account.api_usage": {
        "get": {
            "tags": ["credits"],
            "description": "Credits spent from the wallet over a range of UTC days, by day, feature "
            "or API key. A spend counts once captured, for what it was charged, on the UTC day it was "
            "made: spends still held (a job still running) and released ones are not counted. "
            "The wallet is the key's: an organization key's is the organization's, where a key made "
            "by a plain member counts that member's own spends and one made by an owner or admin "
            "every member's.",
            "parameters": USAGE_PARAMETERS,
            "responses": {
                "200": json_answer(ref("Usage"), "Credits spent over the range."),
                "422": json_answer(
                    ref("InputError"),
                    f"A date that is not YYYY-MM-DD, `from` after `to`, a range of more than "
                    f"{MAX_DAYS} days, or another `group_by`. Nothing was written.",
                ),
                "404": error_answer(
                    "The key is an organization's and the person who made it is no longer its member."
                ),
                "429": RATE_LIMITED,
            },
        }
    },
}
