"""The OpenAPI declarations of the job routes under `/api/jobs/` (assembled by `creditapp.api.openapi`)."""

from __future__ import annotations

from typing import Any

from creditapp.platform.api_spec import NULLABLE_TIME, RATE_LIMITED, error_answer, json_answer, ref

SCHEMAS: dict[str, dict[str, Any]] = {
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
            "job": ref("Job"),
        },
    },
}

JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "The job's id, from the 202 answer.",
    "schema": {"type": "string", "format": "uuid"},
}
JOB_LOCATION = {"Location": {"description": "`/api/jobs/<id>`", "schema": {"type": "string"}}}

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "jobs.api_job": {
        "get": {
            "tags": ["jobs"],
            "parameters": [JOB_ID],
            "responses": {
                "200": json_answer(ref("Job"), "The job."),
                "404": error_answer("No such job of this user."),
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
                "404": error_answer("No such job, or it has no result."),
                "410": error_answer("The result was past its keeping time and was deleted."),
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
                "200": json_answer(ref("Job"), "Canceled; the credits are back."),
                "400": error_answer("Sent with the session cookie but without X-CSRFToken."),
                "404": error_answer("No such job of this user."),
                "409": json_answer(ref("Conflict"), "The job is running or has ended; it is left as it is."),
                "429": RATE_LIMITED,
            },
        }
    },
}
