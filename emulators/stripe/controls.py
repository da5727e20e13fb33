"""``/_emulator/…`` JSON controls for the Stripe stand-in: what a test or a developer makes happen.

They do what Stripe, a bank or a cardholder would do (settle a delayed payment, fail a
refund, file a dispute, decide it) and send the events Stripe sends for each.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from ..context import current
from . import disputes, payments, refunds
from .errors import StripeError, invalid_param, no_such

bp = Blueprint("stripe_controls", __name__, url_prefix="/_emulator")


def body(*allowed: str) -> dict[str, Any]:
    """Return the JSON object sent; a key not in ``allowed`` is refused."""
    sent = request.get_json(silent=True) if request.data else {}
    if not isinstance(sent, dict):
        raise StripeError("Send a JSON object.")
    unknown = sorted(set(sent) - set(allowed))
    if unknown:
        raise StripeError(f"Unknown field: {unknown[0]}", code="parameter_unknown", param=unknown[0])
    return sent


@bp.post("/sessions/<session_id>/settle")
def settle(session_id: str):
    """Settle a delayed payment: ``{"outcome": "succeeded"|"failed"}``."""
    outcome = body("outcome").get("outcome", "succeeded")
    store = current().store
    with store.lock:
        return payments.settle(store, session_id, outcome)


@bp.post("/sessions/<session_id>/expire")
def expire(session_id: str):
    """Expire an open Checkout Session."""
    body()
    store = current().store
    with store.lock:
        return payments.expire(store, session_id)


@bp.post("/refunds/<refund_id>/fail")
def fail_refund(refund_id: str):
    """Fail a pending or succeeded refund: ``{"failure_reason"?: str}``."""
    reason = body("failure_reason").get("failure_reason")
    store = current().store
    with store.lock:
        return refunds.fail(store, refund_id, reason)


@bp.post("/refunds/<refund_id>/succeed")
def succeed_refund(refund_id: str):
    """Settle a pending refund as succeeded."""
    body()
    store = current().store
    with store.lock:
        return refunds.succeed(store, refund_id)


@bp.post("/refunds/<refund_id>/cancel")
def cancel_refund(refund_id: str):
    """Cancel a pending refund."""
    body()
    store = current().store
    with store.lock:
        return refunds.cancel(store, refund_id)


@bp.post("/payment_intents/<intent_id>/refund-without-charge")
def refund_without_charge(intent_id: str):
    """Refund a payment as Stripe does for methods whose refunds name no charge: ``{"amount"?: int}``.

    The Refund says ``charge: null``; it is listed by ``payment_intent``, not by ``charge``.
    """
    sent = body("amount")
    params = {"payment_intent": intent_id, **({"amount": sent["amount"]} if "amount" in sent else {})}
    store = current().store
    with store.lock:
        return refunds.create(store, params, None, charge_less=True)


@bp.post("/charges/<charge_id>/dispute")
def dispute(charge_id: str):
    """File a dispute: ``{"amount"?: int, "reason"?: str, "inquiry"?: bool}``.

    Default: a chargeback for what is left unrefunded, its funds withdrawn at once.
    """
    sent = body("amount", "reason", "inquiry")
    store = current().store
    with store.lock:
        return disputes.open_dispute(
            store, charge_id, sent.get("amount"), sent.get("reason"), sent.get("inquiry", False)
        )


@bp.post("/disputes/<dispute_id>/escalate")
def escalate(dispute_id: str):
    """Escalate an inquiry to a chargeback (its funds are withdrawn)."""
    body()
    store = current().store
    with store.lock:
        return disputes.escalate(store, dispute_id)


@bp.post("/disputes/<dispute_id>/close")
def close_dispute(dispute_id: str):
    """Decide a dispute: ``{"outcome": "won"|"lost"|"warning_closed"}``."""
    outcome = body("outcome").get("outcome")
    store = current().store
    with store.lock:
        return disputes.close(store, dispute_id, outcome)


@bp.post("/events/<event_id>/resend")
def resend(event_id: str):
    """Deliver an event again to every endpoint that enables it (or ``{"endpoint": id}``).

    The same bytes with a fresh signature, even while webhooks are switched off.
    """
    wanted = body("endpoint").get("endpoint")
    emulator = current()
    with emulator.store.lock:
        event = emulator.store.objects["event"].get(event_id)
        if event is None:
            raise no_such("event", event_id)
        payload = emulator.store.event_bodies[event_id]
        if wanted is None:
            targets = emulator.store.endpoints_for(event["type"])
        else:
            emulator.store.get("webhook_endpoint", wanted, param="endpoint")
            targets = [wanted]
    for endpoint_id in targets:
        emulator.dispatcher.enqueue(event_id, event["type"], payload, endpoint_id, resend=True)
    return {"queued": True, "event_id": event_id, "endpoints": targets}


@bp.get("/deliveries")
def deliveries():
    """List every webhook attempt, optionally ``?event_id=``, ``?type=``, ``?endpoint=``."""
    args = request.args
    unknown = sorted(set(args) - {"event_id", "type", "endpoint"})
    if unknown:
        raise invalid_param(unknown[0], f"Unknown filter: {unknown[0]}")
    found = current().dispatcher.deliveries(args.get("event_id"), args.get("type"), args.get("endpoint"))
    return jsonify(found)
