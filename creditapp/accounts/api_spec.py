"""The OpenAPI declarations of the accounts routes under `/api/` (assembled by `creditapp.api.openapi`)."""

from __future__ import annotations

from typing import Any

from creditapp.platform.api_spec import NULLABLE_TIME, RATE_LIMITED, error_answer, json_answer, ref

TIME = {"type": "string", "format": "date-time"}
LOT_SOURCES = ["signup_bonus", "purchase", "top_up", "grant", "migration"]

SCHEMAS: dict[str, dict[str, Any]] = {
    "Credits": {
        "type": "object",
        "required": ["credits", "held", "owed", "expiring", "lots"],
        "additionalProperties": False,
        "properties": {
            "credits": {
                "type": "integer",
                "description": "What may be spent now (negative while credits are owed).",
            },
            "held": {"type": "integer", "minimum": 0, "description": "Credits held by jobs still running."},
            "owed": {
                "type": "integer",
                "minimum": 0,
                "description": "Credits taken back (a refund, a dispute) that no lot could cover: "
                "the next credits to arrive pay this first.",
            },
            "expiring": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["credits", "expires_at"],
                        "additionalProperties": False,
                        "properties": {"credits": {"type": "integer", "minimum": 0}, "expires_at": TIME},
                    },
                ],
                "description": "The soonest expiry within LOT_EXPIRY_NOTICE_DAYS: the credits of the "
                "lots ending that day and when the first ends; null when none is that near.",
            },
            "lots": {
                "type": "array",
                "items": ref("CreditLot"),
                "description": "The live lots (what a spend may draw from now), in spend order.",
            },
        },
    },
    "CreditLot": {
        "type": "object",
        "required": [
            "id",
            "source",
            "category",
            "amount",
            "remaining",
            "priority",
            "state",
            "effective_at",
            "expires_at",
            "voided_at",
            "created_at",
            "purchase_id",
            "reason",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "source": {"type": "string", "enum": LOT_SOURCES},
            "category": {"type": "string", "enum": ["paid", "promotional"]},
            "amount": {"type": "integer", "minimum": 1, "description": "The credits the lot brought."},
            "remaining": {
                "type": "integer",
                "minimum": 0,
                "description": "What is left to spend (0 once it expired or was voided).",
            },
            "priority": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": "Lower is spent first.",
            },
            "state": {"type": "string", "enum": ["live", "used", "expired", "voided"]},
            "effective_at": TIME,
            "expires_at": {**NULLABLE_TIME, "description": "null: never expires."},
            "voided_at": NULLABLE_TIME,
            "created_at": TIME,
            "purchase_id": {"type": ["integer", "null"], "description": "The purchase that paid for it."},
            "reason": {"type": "string", "description": "Why it was granted (empty for most lots)."},
        },
    },
    "CreditLots": {
        "type": "object",
        "required": ["lots", "next_before"],
        "additionalProperties": False,
        "properties": {
            "lots": {"type": "array", "items": ref("CreditLot"), "description": "Newest first."},
            "next_before": {
                "type": ["integer", "null"],
                "description": "Send as `before` for the next page; null on the last page.",
            },
        },
    },
}

PAGE_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Lots a page (default 50).",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    },
    {
        "name": "before",
        "in": "query",
        "required": False,
        "description": "Only lots older than this one: the previous page's `next_before`.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    },
]

# The wallet a call acts on (DESIGN §19): a key's own always; a browser session names an
# organization it is in, as pages do. A key naming any other is refused (403 `wrong_wallet`).
ORG = {
    "name": "org",
    "in": "query",
    "required": False,
    "description": "An organization's id: act on its wallet (a browser session that is one of its "
    "members). A key acts on its own wallet only: naming another is refused with 403 `wrong_wallet`.",
    "schema": {"type": "integer", "minimum": 1},
}
NO_SUCH_ORGANIZATION = error_answer("A browser session named an organization it is not a member of.")

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "account.api_credits": {
        "get": {
            "tags": ["credits"],
            "description": "Of the call's wallet: an organization key's is the organization's.",
            "parameters": [ORG],
            "responses": {
                "200": json_answer(ref("Credits"), "The balance."),
                "404": NO_SUCH_ORGANIZATION,
                "422": json_answer(ref("InputError"), "Text no database stores in the query."),
                "429": RATE_LIMITED,
            },
        }
    },
    "account.api_credit_lots": {
        "get": {
            "tags": ["credits"],
            "description": "Every lot of the wallet, live or ended, newest first.",
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": json_answer(ref("CreditLots"), "A page of lots."),
                "422": json_answer(
                    ref("InputError"), "A `limit` or `before` that is not a whole number in its range."
                ),
                "429": RATE_LIMITED,
            },
        }
    },
}
