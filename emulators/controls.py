"""``/_emulator/…`` JSON controls that tests and developers use to drive the stand-ins."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from . import catalog, payments
from .context import current
from .errors import StripeError, invalid_param, no_such

bp = Blueprint("controls", __name__, url_prefix="/_emulator")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        raise StripeError("Send a JSON object.")
    return body


@bp.get("/health")
def health():
    """Say the emulator is up, and how many webhook attempts are still to be made."""
    return {"status": "ok", "pending_deliveries": current().dispatcher.pending()}


@bp.post("/sessions/<session_id>/settle")
def settle(session_id: str):
    """Settle a delayed payment: ``{"outcome": "succeeded"|"failed"}``."""
    store = current().store
    with store.lock:
        return payments.settle(store, session_id, _body().get("outcome", "succeeded"))


@bp.post("/sessions/<session_id>/expire")
def expire(session_id: str):
    """Expire an open Checkout Session."""
    store = current().store
    with store.lock:
        return payments.expire(store, session_id)


@bp.post("/charges/<charge_id>/dispute")
def dispute(charge_id: str):
    """Open a dispute on a charge: ``{"amount": int?, "reason": str?}``."""
    body, store = _body(), current().store
    with store.lock:
        return payments.open_dispute(store, charge_id, body.get("amount"), body.get("reason") or "fraudulent")


@bp.post("/disputes/<dispute_id>/close")
def close_dispute(dispute_id: str):
    """Close a dispute: ``{"outcome": "won"|"lost"}``."""
    store = current().store
    with store.lock:
        return payments.close_dispute(store, dispute_id, _body().get("outcome", ""))


@bp.post("/events/<event_id>/resend")
def resend(event_id: str):
    """Deliver an event again: the same bytes with a fresh signature, even if webhooks are off."""
    emulator = current()
    with emulator.store.lock:
        event = emulator.store.objects["event"].get(event_id)
        if event is None:
            raise no_such("event", event_id)
        body = emulator.store.event_bodies[event_id]
    emulator.dispatcher.enqueue(event_id, event["type"], body, resend=True)
    return {"queued": True, "event_id": event_id}


@bp.get("/deliveries")
def deliveries():
    """List every webhook attempt, optionally ``?event_id=`` and/or ``?type=``."""
    found = current().dispatcher.deliveries(request.args.get("event_id"), request.args.get("type"))
    return jsonify(found)


@bp.route("/config", methods=["GET", "POST"])
def config():
    """Read or change run-time settings (webhook target, retries, Google redirect URIs)."""
    emulator = current()
    if request.method == "POST":
        changes = _validated_config(_body())
        redirect_uris = changes.pop("google_redirect_uris", None)
        if redirect_uris is not None:
            emulator.google.redirect_uris = redirect_uris
        emulator.dispatcher.configure(changes)
    return {**emulator.dispatcher.config(), "google_redirect_uris": emulator.google.redirect_uris}


def _validated_config(body: dict[str, Any]) -> dict[str, Any]:
    checks = {
        "webhook_url": lambda v: isinstance(v, str) and v.startswith(("http://", "https://")),
        "webhook_secret": lambda v: isinstance(v, str) and v != "",
        "webhooks_enabled": lambda v: isinstance(v, bool),
        "max_attempts": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "retry_base_seconds": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
        "google_redirect_uris": lambda v: isinstance(v, list) and all(isinstance(u, str) for u in v),
    }
    for key, value in body.items():
        if key not in checks:
            raise StripeError(f"Unknown setting: {key}", param=key)
        if not checks[key](value):
            raise invalid_param(key, f"Invalid value for {key}: {value!r}")
    return dict(body)


@bp.post("/reset")
def reset():
    """Forget sessions, payments, events, deliveries and Google codes; re-seed the packs."""
    emulator = current()
    emulator.dispatcher.reset()
    with emulator.store.lock:
        emulator.store.reset(keep=())
        catalog.seed(emulator.store)
    emulator.google.reset()
    return {"status": "reset"}
