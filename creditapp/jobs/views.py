"""Jobs: a paid feature's progress and result, as JSON (`/api/jobs/…`) and as a page (`/jobs/…`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from creditapp.accounts.bearer import requires_scope
from creditapp.jobs import records, results
from creditapp.jobs.idempotency import new_form_key
from creditapp.jobs.service import JobNotCancelable, cancel
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import STOP_POLLING, is_htmx, trigger, vary_on_htmx

bp = Blueprint("jobs", __name__)

NOT_FOUND = "No such job."


def _ttl() -> timedelta:
    return timedelta(days=int(current_app.config["RESULT_TTL_DAYS"]))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_json(job: records.Job) -> dict[str, Any]:
    """The job as the API shows it (docs/design/jobs.md)."""
    expired = job.result_expired(_ttl())
    result = None
    if job.status == "succeeded" and not expired:
        result = {"image_url": url_for("jobs.api_result", job_id=job.id)}
    error = None
    if job.status in ("failed", "canceled"):
        error = {"code": job.error or job.status, "message": job.error_message or ""}
    return {
        "id": str(job.id),
        "status": job.status,
        "feature": job.feature,
        "cost": job.cost,
        "spend_id": job.spend_id,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "status_url": url_for("jobs.api_job", job_id=job.id),
        "result": result,
        "result_expired": expired,
        "error": error,
    }


def render_job_fragment(job: records.Job, replayed: bool = False, in_form: bool = False) -> str:
    """The progress fragment the image form and the job page show.

    `in_form`: it sits under the feature's form, which gets a fresh idempotency key (out of
    band) once the job has ended, so the next Generate is a new request.
    """
    return render_template(
        "jobs/_job.html",
        job=job,
        expired=job.result_expired(_ttl()),
        ttl_days=current_app.config["RESULT_TTL_DAYS"],
        replayed=replayed,
        in_form=in_form,
        form_key=new_form_key() if in_form and job.ended else None,
    )


@bp.get("/api/jobs/<uuid:job_id>")
@login_required
@requires_scope("read", own_jobs="spend")
def api_job(job_id: uuid.UUID):
    """JSON: the job's status, its result URL once done, or its error."""
    job = records.find(job_id, current_user.id)
    if job is None:
        return error_response(404, NOT_FOUND)
    return jsonify(job_json(job))


@bp.get("/api/jobs/<uuid:job_id>/result.png")
@login_required
@requires_scope("read", own_jobs="spend")
def api_result(job_id: uuid.UUID):
    """The stored image; 410 once it is past RESULT_TTL_DAYS."""
    job = records.find(job_id, current_user.id)
    if job is None:
        return error_response(404, NOT_FOUND)
    if job.status != "succeeded":
        return error_response(404, f"This job has no result ({job.status}).", "no_result")
    path = results.path_of(current_app.config, job.result_key) if job.result_key else None
    if job.result_expired(_ttl()) or path is None:
        return error_response(410, "This result was past its keeping time and has been deleted.", "gone")
    response = send_file(path, mimetype="image/png", max_age=3600, conditional=True)
    response.cache_control.private = True
    return response


@bp.post("/api/jobs/<uuid:job_id>/cancel")
@login_required
@requires_scope(None, own_jobs="spend")
def api_cancel(job_id: uuid.UUID):
    """Cancel a queued job and give its credits back; 409 once it runs or has ended."""
    try:
        job = cancel(current_user.id, job_id)
    except JobNotCancelable as exc:
        body = {
            "error": "job_not_cancelable",
            "message": f"This job is {exc.job.status}; only a queued job can be canceled.",
            "job": job_json(exc.job),
        }
        return jsonify(body), 409
    if job is None:
        return error_response(404, NOT_FOUND)
    return trigger(make_response(jsonify(job_json(job)), 200), "credits-changed")


@bp.get("/jobs/<uuid:job_id>")
@login_required
def job_page(job_id: uuid.UUID):
    """The job's progress, then its image: a page that refreshes itself, or (htmx) a polled fragment."""
    job = records.find(job_id, current_user.id)
    if job is None:
        return error_response(404, NOT_FOUND)
    if not is_htmx():
        return vary_on_htmx(make_response(render_template("jobs/job.html", **_context(job))))
    in_form = request.args.get("in") == "form"
    response = make_response(render_job_fragment(job, in_form=in_form), STOP_POLLING if job.ended else 200)
    if job.ended:
        trigger(response, "credits-changed")  # the hold settled: the badge shows the final balance
    return vary_on_htmx(response)


def _context(job: records.Job) -> dict[str, Any]:
    return {
        "job": job,
        "expired": job.result_expired(_ttl()),
        "ttl_days": current_app.config["RESULT_TTL_DAYS"],
        "replayed": False,
        "in_form": False,
        "form_key": None,
    }
