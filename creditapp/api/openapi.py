"""`GET /api/openapi.json`: the OpenAPI 3.1 description of every `/api/…` route.

Built with apispec from the app itself: the paths and their methods come from the URL map
(apispec's Flask plugin turns `<uuid:job_id>` into `{job_id}`), each summary from the
view's docstring, each operation's security and its 401/403 answers from the view's
`requires_scope`. What the code cannot say (bodies, answers) is declared here per
endpoint, and building the document fails on an `/api/` route or method without a
declaration or a declaration without a route, so the two cannot drift apart.
"""

from __future__ import annotations

import copy
from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Flask, current_app, jsonify

bp = Blueprint("openapi", __name__)

DOCUMENT_KEY = "creditapp.api.openapi"
SAFE_METHODS = {"HEAD", "OPTIONS"}


class DescriptionMismatch(RuntimeError):
    """An `/api/` route without a description, or a description without a route."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _error(description: str, headers: dict | None = None) -> dict[str, Any]:
    return _json(_ref("Error"), description, headers)


NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable code, e.g. `invalid_token`, `not_found`."},
            "message": {"type": "string", "description": "What happened, for a person."},
        },
    },
    "Credits": {
        "type": "object",
        "required": ["credits", "held"],
        "additionalProperties": False,
        "properties": {
            "credits": {"type": "integer", "description": "The balance (negative after a refund clawback)."},
            "held": {"type": "integer", "minimum": 0, "description": "Credits held by jobs still running."},
        },
    },
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
    "Job": {
        "type": "object",
        "required": [
            "id",
            "status",
            "feature",
            "cost",
            "spend_id",
            "created_at",
            "started_at",
            "finished_at",
            "status_url",
            "result",
            "result_expired",
            "error",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
            "feature": {"type": "string"},
            "cost": {"type": "integer", "minimum": 1},
            "spend_id": {"type": "integer"},
            "created_at": NULLABLE_TIME,
            "started_at": NULLABLE_TIME,
            "finished_at": NULLABLE_TIME,
            "status_url": {"type": "string"},
            "result": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["image_url"],
                        "properties": {"image_url": {"type": "string"}},
                    },
                ]
            },
            "result_expired": {"type": "boolean"},
            "error": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    },
                ]
            },
        },
    },
    "InputError": {
        "type": "object",
        "required": ["error", "message", "field"],
        "properties": {
            "error": {"const": "invalid_input"},
            "message": {"type": "string"},
            "field": {"type": ["string", "null"]},
        },
    },
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
    "Conflict": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {
                "type": "string",
                "enum": ["idempotency_key_reused", "result_not_stored", "job_not_cancelable"],
            },
            "message": {"type": "string"},
            "spend_id": {"type": "integer"},
            "job": _ref("Job"),
        },
    },
}

RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
CHALLENGE = {"WWW-Authenticate": {"description": "`Bearer …` (RFC 6750).", "schema": {"type": "string"}}}
RATE_LIMITED = _error("Too many requests for this key or user.", RETRY_AFTER)
JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "The job's id, from the 202 answer.",
    "schema": {"type": "string", "format": "uuid"},
}
JOB_LOCATION = {"Location": {"description": "`/api/jobs/<id>`", "schema": {"type": "string"}}}

# endpoint -> method -> what the code alone cannot say.
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "account.api_credits": {
        "get": {
            "tags": ["credits"],
            "responses": {"200": _json(_ref("Credits"), "The balance."), "429": RATE_LIMITED},
        }
    },
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
                "content": {"application/json": {"schema": _ref("ImageRequest")}},
            },
            "responses": {
                "202": _json(
                    _ref("Job"), "Queued (or, for a repeated Idempotency-Key, still running).", JOB_LOCATION
                ),
                "200": _json(_ref("Job"), "A repeated Idempotency-Key whose job has ended.", JOB_LOCATION),
                "400": _error("The body is not a JSON object."),
                "402": _json(
                    {"oneOf": [_ref("InsufficientCredits"), _ref("KeyLimitReached")]},
                    "Not enough credits, or the key's monthly limit would be passed. Nothing was charged.",
                ),
                "409": _json(_ref("Conflict"), "The Idempotency-Key was used for another request."),
                "413": _error("The body is too large."),
                "422": _json(
                    _ref("InputError"), "A bad prompt, size or Idempotency-Key. Nothing was charged."
                ),
                "429": RATE_LIMITED,
            },
        }
    },
    "jobs.api_job": {
        "get": {
            "tags": ["jobs"],
            "parameters": [JOB_ID],
            "responses": {
                "200": _json(_ref("Job"), "The job."),
                "404": _error("No such job of this user."),
                "429": RATE_LIMITED,
            },
        }
    },
    "jobs.api_result": {
        "get": {
            "tags": ["jobs"],
            "parameters": [JOB_ID],
            "responses": {
                "200": {
                    "description": "The image.",
                    "content": {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}},
                },
                "304": {"description": "Not modified (a conditional request)."},
                "404": _error("No such job, or it has no result."),
                "410": _error("The result was past its keeping time and was deleted."),
                "429": RATE_LIMITED,
            },
        }
    },
    "jobs.api_cancel": {
        "post": {
            "tags": ["jobs"],
            "description": "Cancels a queued job and gives its credits back.",
            "parameters": [JOB_ID],
            "responses": {
                "200": _json(_ref("Job"), "Canceled; the credits are back."),
                "400": _error("Sent with the session cookie but without X-CSRFToken."),
                "404": _error("No such job of this user."),
                "409": _json(_ref("Conflict"), "The job is running or has ended; it is left as it is."),
                "429": RATE_LIMITED,
            },
        }
    },
    "openapi.document": {
        "get": {
            "tags": ["meta"],
            "security": [],
            "responses": {
                "401": _error("A malformed, unknown or revoked key was sent (none is needed).", CHALLENGE),
                "200": {
                    "description": "This document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
        }
    },
}


def _scoped(operation: dict[str, Any], view: Any) -> dict[str, Any]:
    """Add what the view's `requires_scope` says: security, 401 and 403."""
    scopes = getattr(view, "api_scopes", None)
    if scopes is None:
        return operation
    needed = [s for s in (scopes["scope"], scopes["own_jobs"]) if s]
    words = " or ".join(
        f"`{s}`" + (" (jobs the key started)" if s == scopes["own_jobs"] else "") for s in needed
    )
    operation["security"] = [{"apiKey": [s]} for s in needed] + [{"session": []}]
    operation["description"] = (operation.get("description", "") + f" Key scope: {words}.").strip()
    responses = operation.setdefault("responses", {})
    responses["401"] = _error("No key or session, or the key is malformed, unknown or revoked.", CHALLENGE)
    responses["403"] = _error("The key lacks the scope this needs.", CHALLENGE)
    return operation


def api_rules(app: Flask) -> dict[str, set[str]]:
    """Endpoint -> its methods (less HEAD and OPTIONS), for every `/api/` rule."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            found.setdefault(rule.endpoint, set()).update(
                m.lower() for m in (rule.methods or ()) - SAFE_METHODS
            )
    return found


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `app`; raises DescriptionMismatch when code and declarations differ."""
    routed = api_rules(app)
    declared = {endpoint: set(methods) for endpoint, methods in OPERATIONS.items()}
    if routed != declared:
        raise DescriptionMismatch(f"routes {routed} != described {declared}")
    spec = APISpec(
        title="creditapp API",
        version="1",
        openapi_version="3.1.0",
        plugins=[FlaskPlugin()],
        info={
            "description": "Spend prepaid credits from code. Authenticate with "
            "`Authorization: Bearer <key>` (create keys at /account/api-keys)."
        },
        servers=[{"url": app.config.get("APP_BASE_URL") or "/"}],
    )
    spec.components.security_scheme(
        "apiKey",
        {"type": "http", "scheme": "bearer", "description": "An API key: `ca_test_…` or `ca_live_…`."},
    )
    spec.components.security_scheme(
        "session",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": "session",
            "description": "The browser session (send X-CSRFToken on POST).",
        },
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for endpoint, methods in sorted(OPERATIONS.items()):
        view = app.view_functions[endpoint]
        operations = {}
        for method, declared_op in methods.items():
            operation = copy.deepcopy(declared_op)
            operation.setdefault("summary", (view.__doc__ or "").strip().splitlines()[0])
            operation["operationId"] = endpoint.replace(".", "_")
            operations[method] = _scoped(operation, view)
        spec.path(view=view, operations=operations, app=app)
    return spec.to_dict()


@bp.get("/api/openapi.json")
def document():
    """The OpenAPI 3.1 description of the JSON API."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if DOCUMENT_KEY not in app.extensions:
        app.extensions[DOCUMENT_KEY] = build(app)
    return jsonify(app.extensions[DOCUMENT_KEY])
