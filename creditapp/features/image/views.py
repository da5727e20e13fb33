"""Paid features: the image generation page, its quote, and the HTML and JSON routes that queue a job."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from creditapp import ledger
from creditapp.accounts import bearer
from creditapp.features.base import InvalidInput
from creditapp.features.image import feature as image
from creditapp.jobs.idempotency import IdempotencyConflict, is_form_key, new_form_key
from creditapp.jobs.service import Submission, submit
from creditapp.jobs.views import job_json, render_job_fragment
from creditapp.ledger.key_limits import KeyLimitReached, KeyRevoked
from creditapp.platform import errors
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import is_htmx, trigger, vary_on_htmx
from creditapp.platform.input_checks import replace_unstorable

bp = Blueprint("features", __name__)

FEATURE = image.ImageGeneration.name
DEFAULT_SIZE = 512


def _insufficient_message(exc: ledger.InsufficientCredits) -> str:
    """Why the spend was refused, in words; a negative balance explains itself."""
    if exc.balance < 0:
        return (
            "Your balance is negative because a purchase was refunded; buy credits to continue. "
            f"You have {exc.balance} credits and this needs {exc.required}."
        )
    return f"Not enough credits: this needs {exc.required} and you have {exc.balance}."


@bp.get("/features/image")
@login_required
def image_page():
    """The image form, with the price of the chosen size shown before spending."""
    return vary_on_htmx(make_response(render_template("features/image.html", **_form_context())))


def _form_context(**extra: Any) -> dict[str, Any]:
    costs = image.costs(current_app.config)
    size = extra.pop("size", DEFAULT_SIZE)
    # A form sent back with a problem keeps its key: nothing was spent with it.
    form_key = extra.pop("form_key", None)
    if not is_form_key(form_key):
        form_key = new_form_key()
    context = {"costs": costs, "size": size, "cost": costs.get(size), "prompt": "", "form_key": form_key}
    return {**context, **extra}


def _form_idempotency_key(form: Mapping[str, Any]) -> str | None:
    """The key a form post spends under: its form's key bound to what it asks for.

    A second submit of the same form (a double click, a resent no-JS post) finds the first
    job; the same form changed to ask for something else is a new request, not a 409.
    """
    form_key = form.get("form_key")
    if not form_key:
        return None  # a form rendered before keys existed: nothing to replay
    asked = json.dumps([form.get("prompt"), form.get("size")])
    return f"form:{form_key}:{hashlib.sha256(asked.encode()).hexdigest()[:16]}"


@bp.get("/features/image/quote")
@login_required
def image_quote():
    """The price fragment for `?size=`, swapped in when the size changes."""
    try:
        size = image.parse_size(request.args.get("size"), current_app.config)
    except InvalidInput as exc:
        return error_response(422, str(exc), "invalid_input")
    cost = image.costs(current_app.config)[size]
    # The Generate button comes along out of band: enabled only when the balance can pay.
    response = make_response(
        render_template("features/_quote.html", size=size, cost=cost, credits=current_user.credits, oob=True)
    )
    response.headers["Cache-Control"] = "no-store"  # it carries the balance, like the badge
    return response


def _attempt(raw: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
    """Hold the credits and queue the job; (HTTP status, details) for either renderer."""
    user_id = current_user.id  # read before the ledger commits and expires the loaded user
    try:
        submission = submit(
            user_id,
            FEATURE,
            raw,
            key,
            api_key_id=bearer.current_key_id(),
            idempotency_scope=bearer.idempotency_scope(),
        )
    except InvalidInput as exc:
        return 422, {"error": "invalid_input", "message": str(exc), "field": exc.field}
    except ledger.InsufficientCredits as exc:
        return 402, {
            "error": "insufficient_credits",
            "message": _insufficient_message(exc),
            "credits": exc.balance,
            "required": exc.required,
        }
    except KeyLimitReached as exc:
        return 402, {
            "error": "key_limit_reached",
            "message": f"This API key may spend {exc.limit} credits a month; it has spent {exc.spent} "
            f"this month and this needs {exc.required}.",
            "limit": exc.limit,
            "spent": exc.spent,
            "required": exc.required,
        }
    except KeyRevoked:
        return 401, {"error": "invalid_token", "message": "This API key was revoked."}
    except IdempotencyConflict as exc:
        return 409, {"error": exc.code, "message": str(exc), "spend_id": exc.spend_id}
    # 202 while the job is queued or running; a replayed key whose job has ended is a plain 200.
    status = 200 if submission.replayed and submission.job.ended else 202
    return status, {"submission": submission}


@bp.post("/features/image")
@login_required
def create_image():
    """Hold credits and queue an image: htmx gets the job's progress fragment, a form post a 303."""
    raw = {"prompt": request.form.get("prompt"), "size": request.form.get("size")}
    status, details = _attempt(raw, _form_idempotency_key(request.form))
    if status in (200, 202):
        submission: Submission = details["submission"]
        if is_htmx():
            # The form's key is renewed once the result is shown (the fragment sends a fresh
            # one when the job ends); until then a second click finds this job.
            fragment = render_job_fragment(submission.job, submission.replayed, in_form=True)
            response = make_response(fragment, 202)
        else:
            response = redirect(url_for("jobs.job_page", job_id=submission.job.id), 303)
    elif is_htmx():
        response = make_response(render_template("features/_problem.html", status=status, **details), status)
    else:
        body = render_template(
            "features/image.html",
            status=status,
            **_form_context(
                size=_size_or_default(raw["size"]),
                prompt=raw["prompt"] or "",
                form_key=request.form.get("form_key"),
            ),
            **details,
        )
        response = make_response(body, status)
    # A hold moved the balance, and a 402 shows it: refresh the badge.
    if status in (200, 202, 402):
        trigger(response, "credits-changed")
    return vary_on_htmx(response)


def render_form_again(status: int, message: str, code: str) -> str:
    """The image form as the person sent it, with why it was refused (no JavaScript)."""
    form = request.form
    return render_template(
        "features/image.html",
        status=status,
        error=code,
        message=message,
        **_form_context(
            size=_size_or_default(form.get("size")),
            # What was typed, with any character no database stores (the 422's reason) marked.
            prompt=replace_unstorable(form.get("prompt") or ""),
            form_key=form.get("form_key"),
        ),
    )


def _size_or_default(raw: Any) -> int:
    try:
        return image.parse_size(raw, current_app.config)
    except InvalidInput:
        return DEFAULT_SIZE


@bp.post("/api/features/image")
@login_required
@bearer.requires_scope("spend")
def api_create_image():
    """JSON: {"prompt", "size"} and an optional Idempotency-Key → 202 and the queued job."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(
            400,
            'Send a JSON object such as {"prompt": "a red fox", "size": 512} '
            "with Content-Type: application/json.",
        )
    status, details = _attempt(body, request.headers.get("Idempotency-Key"))
    if status not in (200, 202):
        response = make_response(jsonify(details), status)
        if status == 401:
            response.headers["WWW-Authenticate"] = bearer.INVALID_CHALLENGE
        if status == 402:
            trigger(response, "credits-changed")
        return response
    submission: Submission = details["submission"]
    response = make_response(jsonify(job_json(submission.job)), status)
    response.headers["Location"] = url_for("jobs.api_job", job_id=submission.job.id)
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        trigger(response, "credits-changed")
    return response


def init_app(app: Flask) -> None:
    """Serve the image pages and API; a refused form post comes back as the form."""
    app.register_blueprint(bp)
    errors.keep_form("features.create_image", render_form_again)
