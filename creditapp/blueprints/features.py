"""Paid features: the image generation page, its quote, and the HTML and JSON spend routes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, render_template, request
from flask_login import current_user, login_required

from creditapp import ledger
from creditapp.errors import error_response
from creditapp.features import image
from creditapp.features.base import InvalidInput
from creditapp.features.service import FeatureFailed, IdempotencyConflict, SpendOutcome, spend
from creditapp.htmx import is_htmx, trigger, vary_on_htmx

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
    return {"costs": costs, "size": size, "cost": costs.get(size), "prompt": "", **extra}


@bp.get("/features/image/quote")
@login_required
def image_quote():
    """The price fragment for `?size=`, swapped in when the size changes."""
    try:
        size = image.parse_size(request.args.get("size"), current_app.config)
    except InvalidInput as exc:
        return error_response(422, str(exc), "invalid_input")
    cost = image.costs(current_app.config)[size]
    return render_template("features/_quote.html", size=size, cost=cost, credits=current_user.credits)


def _attempt(raw: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
    """Run the shared spend service; (HTTP status, details) for either renderer."""
    user_id = current_user.id  # read before the ledger commits and expires the loaded user
    try:
        outcome = spend(user_id, FEATURE, raw, key)
    except InvalidInput as exc:
        return 422, {"error": "invalid_input", "message": str(exc), "field": exc.field}
    except ledger.InsufficientCredits as exc:
        return 402, {
            "error": "insufficient_credits",
            "message": _insufficient_message(exc),
            "credits": exc.balance,
            "required": exc.required,
        }
    except FeatureFailed as exc:
        return 502, {"error": "feature_failed", "message": str(exc), "spend_id": exc.spend_id}
    except IdempotencyConflict as exc:
        return 409, {"error": exc.code, "message": str(exc), "spend_id": exc.spend_id}
    return 200, {"outcome": outcome}


@bp.post("/features/image")
@login_required
def create_image():
    """Spend credits on an image: a fragment for htmx, the whole page otherwise."""
    raw = {"prompt": request.form.get("prompt"), "size": request.form.get("size")}
    status, details = _attempt(raw, None)
    if is_htmx():
        template = "features/_result.html" if status == 200 else "features/_problem.html"
        body = render_template(template, status=status, **details)
    else:
        body = render_template(
            "features/image.html",
            status=status,
            **_form_context(size=_size_or_default(raw["size"]), prompt=raw["prompt"] or ""),
            **details,
        )
    response = make_response(body, status)
    # Every attempt that reached the ledger may have moved the balance: refresh the badge.
    if status in (200, 402, 502):
        trigger(response, "credits-changed")
    return vary_on_htmx(response)


def _size_or_default(raw: Any) -> int:
    try:
        return image.parse_size(raw, current_app.config)
    except InvalidInput:
        return DEFAULT_SIZE


@bp.post("/api/features/image")
@login_required
def api_create_image():
    """JSON: {"prompt", "size"} and an optional Idempotency-Key → the image as a data URL."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(
            400,
            'Send a JSON object such as {"prompt": "a red fox", "size": 512} '
            "with Content-Type: application/json.",
        )
    status, details = _attempt(body, request.headers.get("Idempotency-Key"))
    if status == 200:
        outcome: SpendOutcome = details["outcome"]
        payload = {
            "spend_id": outcome.spend_id,
            "credits": outcome.balance,
            "cost": outcome.cost,
            "replayed": outcome.replayed,
            "image": outcome.output.data_url,
        }
    else:
        payload = details
    response = make_response(jsonify(payload), status)
    if status == 200 and outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if status in (200, 402, 502):
        trigger(response, "credits-changed")
    return response
