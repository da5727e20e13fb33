"""`POST /api/features/<segment>`: one use of a feature from code (`views.register` routes it).

JSON in, the `spend` scope, an optional Idempotency-Key. A job feature answers 202 with the
job; an instant one 200 with the job and its result (text and JSON inline, anything else as
a URL), or the result's bytes when the client's Accept prefers their type to JSON; a failed
instant use 502 with the failed job.

The credits come from the call's wallet (`bearer.wallet_id`): a key's own (an organization
key's is the organization's, spent under its maker's member limit and the key's own limit),
or for a browser session the organization it names with `org` (query or body), else the
person's own. The body's `org` names the wallet; it is not one of the feature's fields.
"""

from __future__ import annotations

import json

from flask import current_app, jsonify, make_response, request, url_for

from creditapp.accounts import bearer
from creditapp.features import inputs, registry, starting
from creditapp.features.kit import Feature
from creditapp.jobs import records, results
from creditapp.jobs.presenting import job_json
from creditapp.jobs.service import Submission
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import trigger


def _example(feature: Feature) -> str:
    example = {
        key: spec.get("default", spec.get("enum", [spec.get("type", "…")])[0])
        for key, spec in inputs.properties(feature.schema).items()
        if key in (feature.schema.get("required") or ())
    }
    return json.dumps(example)


def api_create(name: str):
    """Use the feature: JSON in, an optional Idempotency-Key; 202 with the queued job, or
    (an instant feature) 200 with the job and its result."""
    feature = registry.get(name)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(
            400, f"Send a JSON object such as {_example(feature)} with Content-Type: application/json."
        )
    wallet = bearer.wallet_id()
    fields = {name: value for name, value in body.items() if name != "org"}
    status, details = starting.start(
        feature,
        fields,
        request.headers.get("Idempotency-Key"),
        None if bearer.is_personal(wallet) else wallet,
    )
    if status not in (200, 202):
        response = make_response(jsonify(details), status)
        if status == 401:
            response.headers["WWW-Authenticate"] = bearer.INVALID_CHALLENGE
        if status == 402:
            trigger(response, "credits-changed")
        return response
    submission: Submission = details["submission"]
    job = submission.job
    if feature.mode == "instant" and job.status == "failed":
        body = {"error": job.error or "failed", "message": job.error_message or "", "job": job_json(job)}
        response = make_response(jsonify(body), 502)
    elif feature.mode == "instant" and job.has_result and _wants_bytes(job):
        response = _result_bytes(job)
    else:
        response = make_response(jsonify(job_json(job)), status)
    response.headers["Location"] = url_for("jobs.api_job", job_id=job.id)
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        trigger(response, "credits-changed")
    return response


def _wants_bytes(job: records.Job) -> bool:
    """The client's Accept prefers the result's own content type to JSON."""
    kind = (job.result_type or "").split(";", 1)[0].strip()
    accept = request.accept_mimetypes
    return bool(kind) and kind != "application/json" and accept[kind] > accept["application/json"]


def _result_bytes(job: records.Job):
    data = results.read(current_app.config, job.result_key) if job.result_key else None
    if data is None:
        return error_response(410, "This result was past its keeping time and has been deleted.", "gone")
    response = make_response(data, 200)
    response.headers["Content-Type"] = job.result_type
    response.headers["Cache-Control"] = "private, no-store"
    return response
