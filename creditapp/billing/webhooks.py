"""The Stripe webhook: verify the signature, then hand the event to the service."""

from __future__ import annotations

import json
import logging

import stripe
from flask import Blueprint, current_app, jsonify, request

from creditapp.billing import stripe_events
from creditapp.extensions import csrf, limiter
from creditapp.platform import observability, stripe_client

bp = Blueprint("webhooks", __name__)
log = logging.getLogger("creditapp.webhooks")

SIGNATURE_TOLERANCE = 300  # seconds; older deliveries may be replays


@bp.post("/webhooks/stripe")
@csrf.exempt
@limiter.exempt
def stripe_webhook():
    """Verify a Stripe delivery (raw body + Stripe-Signature) and process it once."""
    payload = request.get_data(cache=False)
    try:
        # Stripe sends UTF-8 JSON; anything else (other encodings, absurd nesting) is refused.
        event = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError):
        return _answer(400, error="bad_payload")
    # Checked before construct_event, which assumes a JSON object.
    if not _looks_like_event(event):
        return _answer(400, error="bad_payload")
    try:
        stripe.Webhook.construct_event(
            payload,
            request.headers.get("Stripe-Signature"),
            current_app.config["STRIPE_WEBHOOK_SECRET"],
            tolerance=SIGNATURE_TOLERANCE,
        )
    except stripe.SignatureVerificationError as exc:
        log.warning("webhook rejected: %s", exc.user_message or "bad signature")
        return _answer(400, error="bad_signature")
    except (TypeError, ValueError):
        # A non-ASCII signature header makes the digest comparison raise TypeError.
        log.warning("webhook rejected: malformed Stripe-Signature header")
        return _answer(400, error="bad_signature")
    try:
        # Stripe waits ~10 s for an answer and then retries anyway: the calls back to Stripe
        # get a few seconds in all, and a Stripe that does not answer gets a quick 503.
        with stripe_client.budget(current_app.config["STRIPE_WEBHOOK_BUDGET_SECONDS"]):
            receipt = stripe_events.receive(event)
    except stripe_events.RetryLater:
        observability.count_webhook(event["type"], "retry")
        return _answer(503, error="unavailable")
    observability.count_webhook(event["type"], receipt.status)
    return _answer(200, received=True, status=receipt.status)


def _looks_like_event(event: object) -> bool:
    """An object with a string id and type and a data.object, as every Stripe event has."""
    return (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and bool(event["id"])
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    )


def _answer(http_status: int, **body: object):
    return jsonify(body), http_status
