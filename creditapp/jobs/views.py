"""Jobs: a paid feature's progress and result, as JSON (`/api/jobs/…`) and as a page (`/jobs/…`).

Nothing here knows a feature: how a job is shown (its feature's title and words, a summary
of what was asked, how its result is drawn: `presenting`) comes from the feature registered
under the job's `feature`, and a result is served with the content type it was stored with.

While a job runs, the text it streams (`ctx.partial`) is read back from its row by polling:
`GET /jobs/<id>/partial` (an htmx fragment) and `partial_text` in the JSON. There is no
server-sent-events stream: the web server runs gunicorn's gthread workers (a few threads
each), and a stream held open per watcher would tie up a thread for the whole answer; a
poll every 300 ms costs one indexed read and frees the thread at once.
"""

from __future__ import annotations

import json
import uuid

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required

from creditapp.accounts.bearer import current_key, requires_scope
from creditapp.jobs import records, results
from creditapp.jobs.idempotency import new_form_key
from creditapp.jobs.presenting import INLINE_TYPES, PNG, bare_type, job_json, result_url, shown, stored, ttl
from creditapp.jobs.service import JobNotCancelable, stop
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import STOP_POLLING, is_htmx, trigger, vary_on_htmx
from creditapp.teams.context import use_organization
from creditapp.teams.organizations import organization_of_wallet

bp = Blueprint("jobs", __name__)

NOT_FOUND = "No such job."


def _find(job_id: uuid.UUID) -> records.Job | None:
    """The job as this request may see it: one the person started, from a wallet they may
    still see (their own, or an organization they are still in); for an API key, only a job
    spent from the key's own wallet. A member never sees another member's jobs."""
    key = current_key()
    return records.find_visible(job_id, current_user.id, key.wallet_id if key is not None else None)


def render_job_fragment(job: records.Job, replayed: bool = False, in_form: bool = False) -> str:
    """The progress fragment a feature's form and the job page show.

    `in_form`: it sits under the feature's form, which gets a fresh idempotency key (out of
    band) once the job has ended, so the next submit is a new request.
    """
    return render_template(
        "jobs/_job.html",
        **_context(job, replayed, in_form, form_key=new_form_key() if in_form and job.ended else None),
    )


def _context(job: records.Job, replayed: bool = False, in_form: bool = False, form_key: str | None = None):
    expired = job.result_expired(ttl())
    result_text = None
    if job.has_result and not expired and bare_type(job.result_type) in INLINE_TYPES:
        data = stored(job)
        if data is None:
            expired = True
        else:
            result_text = data.decode("utf-8", errors="replace")
            if bare_type(job.result_type) == "application/json":
                result_text = json.dumps(json.loads(result_text), indent=2, ensure_ascii=False)
    return {
        "job": job,
        "shown": shown(job),
        "expired": expired,
        "result_url": result_url(job.id, job.result_type) if job.result_key else None,
        "result_text": result_text,
        "ttl_days": current_app.config["RESULT_TTL_DAYS"],
        "replayed": replayed,
        "in_form": in_form,
        "form_key": form_key,
    }


@bp.get("/api/jobs/<uuid:job_id>")
@login_required
@requires_scope("read", own_jobs="spend")
def api_job(job_id: uuid.UUID):
    """JSON: the job's status, its text so far, its result once done, or its error."""
    job = _find(job_id)
    if job is None:
        return error_response(404, NOT_FOUND)
    return jsonify(job_json(job))


def _send_result(job_id: uuid.UUID, png_only: bool):
    job = _find(job_id)
    if job is None:
        return error_response(404, NOT_FOUND)
    if not job.has_result and job.status != "succeeded":
        return error_response(404, f"This job has no result ({job.status}).", "no_result")
    if png_only and job.result_key and bare_type(job.result_type) != PNG:
        return error_response(
            404,
            f"This result is not a PNG image; it is at {url_for('jobs.api_result_file', job_id=job_id)}.",
            "no_result",
        )
    path = results.path_of(current_app.config, job.result_key) if job.result_key else None
    if job.result_expired(ttl()) or path is None:
        return error_response(410, "This result was past its keeping time and has been deleted.", "gone")
    response = send_file(path, mimetype=job.result_type or PNG, max_age=3600, conditional=True)
    response.cache_control.private = True
    return response


@bp.get("/api/jobs/<uuid:job_id>/result.png")
@login_required
@requires_scope("read", own_jobs="spend")
def api_result(job_id: uuid.UUID):
    """The stored image; 410 once it is past RESULT_TTL_DAYS."""
    return _send_result(job_id, png_only=True)


@bp.get("/api/jobs/<uuid:job_id>/result")
@login_required
@requires_scope("read", own_jobs="spend")
def api_result_file(job_id: uuid.UUID):
    """The stored result, with its own content type; 410 once it is past RESULT_TTL_DAYS."""
    return _send_result(job_id, png_only=False)


def _stop(job_id: uuid.UUID) -> tuple[records.Job | None, JobNotCancelable | None]:
    if _find(job_id) is None:  # the wallet of a job never changes: checked once, before stopping
        return None, None
    try:
        return stop(current_user.id, job_id), None
    except JobNotCancelable as exc:
        return exc.job, exc


@bp.post("/api/jobs/<uuid:job_id>/cancel")
@login_required
@requires_scope(None, own_jobs="spend")
def api_cancel(job_id: uuid.UUID):
    """Cancel a queued job (its credits back) or stop a running one that can stop; 409 otherwise."""
    job, refused = _stop(job_id)
    if refused is not None:
        body = {
            "error": "job_not_cancelable",
            "message": f"This job is {refused.job.status}; only a queued job, or a running one "
            "whose feature can stop early, can be canceled.",
            "job": job_json(refused.job),
        }
        return jsonify(body), 409
    if job is None:
        return error_response(404, NOT_FOUND)
    if job.status == "running":
        return make_response(jsonify(job_json(job)), 202)  # stopping: the worker ends it
    return trigger(make_response(jsonify(job_json(job)), 200), "credits-changed")


@bp.post("/jobs/<uuid:job_id>/cancel")
@login_required
def stop_job(job_id: uuid.UUID):
    """The Stop button: cancel a queued job or stop a running one; htmx gets the job again."""
    job, refused = _stop(job_id)
    if job is None:
        return error_response(404, NOT_FOUND)
    if not is_htmx():
        return redirect(url_for("jobs.job_page", job_id=job_id), 303)
    response = make_response(render_job_fragment(job, in_form=request.args.get("in") == "form"))
    if refused is None and job.ended:
        trigger(response, "credits-changed")
    return vary_on_htmx(response)


@bp.get("/jobs/<uuid:job_id>")
@login_required
def job_page(job_id: uuid.UUID):
    """The job's progress, then its result: a page that refreshes itself, or (htmx) a polled fragment."""
    job = _find(job_id)
    if job is None:
        return error_response(404, NOT_FOUND)
    if not is_htmx():
        # A job spent from an organization's wallet is shown in its context (the header's
        # badge and links, "again"), whatever link led here: a no-JS spend, History, an e-mail.
        org = organization_of_wallet(job.wallet_id, current_user.id) if job.wallet_id is not None else None
        if org is not None:
            use_organization(org)
        page = render_template("jobs/job.html", **_context(job), org=org)
        return vary_on_htmx(make_response(page))
    in_form = request.args.get("in") == "form"
    response = make_response(render_job_fragment(job, in_form=in_form), STOP_POLLING if job.ended else 200)
    if job.ended:
        trigger(response, "credits-changed")  # the hold settled: the badge shows the final balance
    return vary_on_htmx(response)


@bp.get("/jobs/<uuid:job_id>/partial")
@login_required
def partial(job_id: uuid.UUID):
    """The text a running job has streamed so far: an htmx fragment, polled until it ends (286)."""
    job = _find(job_id)
    if job is None:
        return error_response(404, NOT_FOUND)
    body = render_template("jobs/_partial.html", job=job)
    response: Response = make_response(body, STOP_POLLING if job.ended else 200)
    response.headers["Cache-Control"] = "no-store"
    return vary_on_htmx(response)
