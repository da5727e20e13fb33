"""The OpenAPI entries of the features' spend endpoints, generated from each feature's schema.

`SCHEMAS` are the answers every feature's endpoint shares (not enough credits, the key's
monthly limit; a bad input is the platform's `InputError`). `generated(features)` makes, for
each registered feature, its request body's component (`<Segment>Request`: the feature's
schema itself) and its `POST /api/features/<segment>` operation; `creditapp.api.openapi`
adds them to the document of the app they are registered in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from creditapp.accounts.api_spec import NO_SUCH_ORGANIZATION, ORG
from creditapp.features import inputs
from creditapp.features.kit import Feature
from creditapp.jobs.api_spec import JOB_LOCATION
from creditapp.platform.api_spec import RATE_LIMITED, error_answer, json_answer, ref

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
    "MemberLimitReached": {
        "type": "object",
        "required": ["error", "message", "limit", "spent", "required"],
        "properties": {
            "error": {"const": "member_limit_reached"},
            "message": {"type": "string"},
            "limit": {"type": "integer", "description": "The member's monthly limit in the organization."},
            "spent": {
                "type": "integer",
                "description": "What the member spent from the organization this calendar month (UTC).",
            },
            "required": {"type": "integer"},
        },
    },
    "FeatureFailed": {
        "type": "object",
        "required": ["error", "message", "job"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "job": ref("Job"),
        },
    },
}

# The declared routes are generated per app (`generated`); none is written by hand.
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Sent again, answers with the same job (and result) and charges nothing again.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}


def schema_name(feature: Feature) -> str:
    """The request body's component name: `ImageRequest` for the segment `image`."""
    return "".join(part.capitalize() for part in feature.segment.split("_")) + "Request"


def generated(features: Iterable[Feature]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(schemas, operations) for these features' `POST /api/features/<segment>`."""
    schemas: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for feature in features:
        schemas[schema_name(feature)] = inputs.for_openapi(feature.schema)
        operations[f"features.api_create_{feature.segment}"] = {"post": _operation(feature)}
    return schemas, operations


def _operation(feature: Feature) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "400": error_answer("The body is not a JSON object."),
        "402": json_answer(
            {"oneOf": [ref("InsufficientCredits"), ref("KeyLimitReached"), ref("MemberLimitReached")]},
            "Not enough credits, or the key's or (spending an organization's credits) the member's "
            "monthly limit would be passed. Nothing was charged.",
        ),
        "404": NO_SUCH_ORGANIZATION,
        "409": json_answer(ref("Conflict"), "The Idempotency-Key was used for another request."),
        "413": error_answer("The body is too large."),
        "422": json_answer(ref("InputError"), "A bad field or Idempotency-Key. Nothing was charged."),
        "429": RATE_LIMITED,
    }
    if feature.mode == "instant":
        description = (
            f"{feature.title}: holds at most the estimate, runs at once and answers with the job and its "
            "result (text and JSON inline, anything else as a URL; or the result's own bytes when "
            "Accept prefers its content type to JSON). Charged what the work used. Needs the `spend` scope."
        )
        done = json_answer(ref("Job"), "Done: the job with its result.", JOB_LOCATION)
        done["content"]["*/*"] = {
            "schema": {"type": "string", "description": "The result's bytes (see Accept)."}
        }
        responses["200"] = done
        responses["202"] = json_answer(
            ref("Job"), "A repeated Idempotency-Key whose use still runs.", JOB_LOCATION
        )
        responses["502"] = json_answer(
            ref("FeatureFailed"), "The feature failed; nothing was charged for it."
        )
    else:
        description = (
            f"{feature.title}: holds at most the estimate and queues a job; charged what the work used "
            "once it ends. Needs the `spend` scope."
        )
        responses["202"] = json_answer(
            ref("Job"), "Queued (or, for a repeated Idempotency-Key, still running).", JOB_LOCATION
        )
        responses["200"] = json_answer(
            ref("Job"), "A repeated Idempotency-Key whose job has ended.", JOB_LOCATION
        )
    description += (
        " Spends from the call's wallet: an organization key's is the organization's (within its "
        "maker's member limit); a browser session names an organization with `org` (query or body)."
    )
    return {
        "tags": ["features"],
        "description": description,
        "parameters": [IDEMPOTENCY_KEY, ORG],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref(schema_name(feature))}},
        },
        "responses": dict(sorted(responses.items())),
    }
