"""The OpenAPI declaration of `POST /api/features/image` (assembled by `creditapp.api.openapi`)."""

from __future__ import annotations

from typing import Any

from creditapp.jobs.api_spec import JOB_LOCATION
from creditapp.platform.api_spec import RATE_LIMITED, error_answer, json_answer, ref

SCHEMAS: dict[str, dict[str, Any]] = {
    "ImageRequest": {
        "type": "object",
        "required": ["prompt", "size"],
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": "[A-Za-z0-9]"},
            "size": {
                "type": "integer",
                "enum": [256, 512, 1024],
                "description": "256 → 5, 512 → 10, 1024 → 20 credits.",
            },
        },
    },
}

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "features.api_create_image": {
        "post": {
            "tags": ["features"],
            "description": "Holds the credits and queues an image job. Needs the `spend` scope.",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Sent again, answers with the same job and charges nothing again.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("ImageRequest")}},
            },
            "responses": {
                "202": json_answer(
                    ref("Job"), "Queued (or, for a repeated Idempotency-Key, still running).", JOB_LOCATION
                ),
                "200": json_answer(
                    ref("Job"), "A repeated Idempotency-Key whose job has ended.", JOB_LOCATION
                ),
                "400": error_answer("The body is not a JSON object."),
                "402": json_answer(
                    {"oneOf": [ref("InsufficientCredits"), ref("KeyLimitReached")]},
                    "Not enough credits, or the key's monthly limit would be passed. Nothing was charged.",
                ),
                "409": json_answer(ref("Conflict"), "The Idempotency-Key was used for another request."),
                "413": error_answer("The body is too large."),
                "422": json_answer(
                    ref("InputError"), "A bad prompt, size or Idempotency-Key. Nothing was charged."
                ),
                "429": RATE_LIMITED,
            },
        }
    },
}
