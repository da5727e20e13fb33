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
            "held",
            "charged",
            "partial_text",
            "progress",
            "stop_requested",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
            "feature": {"type": "string"},
            "cost": {
                "type": "integer",
                "minimum": 1,
                "description": "What the hold took while it is held; once settled, what was charged "
                "(a released hold keeps the amount it held).",
            },
            "held": {"type": "integer", "minimum": 1, "description": "What the hold took: the estimate."},
            "charged": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "What was charged: null while held, 0 when given back, less than "
                "`held` when the work used less (metered).",
            },
            "partial_text": {
                "type": ["string", "null"],
                "description": "The text a streaming feature has written so far (while it runs, and after).",
            },
            "progress": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["fraction", "message"],
                        "properties": {
                            "fraction": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                            "message": {"type": "string"},
                        },
                    },
                ]
            },
            "stop_requested": {"type": "boolean", "description": "Stop was pressed; the job ends soon."},
            "spend_id": {"type": "integer"},
            "created_at": NULLABLE_TIME,
            "started_at": NULLABLE_TIME,
            "finished_at": NULLABLE_TIME,
            "status_url": {"type": "string"},
            "result": {
                "description": "Null until there is a result (or once it expired). Text and JSON "
                "results come inline; an image/png as `image_url` (`…/result.png`); any other type "
                "as `url` (`…/result`) with its `content_type`.",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["image_url"],
                        "properties": {"image_url": {"type": "string"}},
                    },
                    {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
                    {"type": "object", "required": ["json"], "properties": {"json": {}}},
                    {
                        "type": "object",
                        "required": ["url", "content_type"],
                        "properties": {"url": {"type": "string"}, "content_type": {"type": "string"}},
                    },
                ],
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
    "jobs.api_result_file": {
        "get": {
            "tags": ["jobs"],
            "parameters": [JOB_ID],
            "responses": {
                "200": {
                    "description": "The result, with the content type it was stored with.",
                    "content": {"*/*": {"schema": {"description": "The bytes as stored: any type."}}},
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
            "description": "Cancels a queued job and gives its credits back; stops a running job "
            "whose feature can stop early (it ends canceled, charged what it used so far).",
            "parameters": [JOB_ID],
            "responses": {
                "200": json_answer(ref("Job"), "Canceled; the credits are back."),
                "202": json_answer(ref("Job"), "Stopping: the running job ends soon, charged what it used."),
                "400": error_answer("Sent with the session cookie but without X-CSRFToken."),
                "404": error_answer("No such job of this user."),
                "409": json_answer(ref("Conflict"), "The job is running or has ended; it is left as it is."),
                "429": RATE_LIMITED,
            },
        }
    },
}
