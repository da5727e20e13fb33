"""``/_emulator/…`` controls shared by every stand-in: health, run-time settings, reset."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from .context import current
from .stripe import catalog, traffic
from .stripe.controls import body
from .stripe.errors import invalid_param
from .stripe.refunds import INITIAL_STATUSES

bp = Blueprint("controls", __name__, url_prefix="/_emulator")

CHECKS = {
    "webhook_url": lambda v: isinstance(v, str) and v.startswith(("http://", "https://")),
    "webhook_secret": lambda v: isinstance(v, str) and v != "",
    "webhooks_enabled": lambda v: isinstance(v, bool),
    "max_attempts": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "retry_base_seconds": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
    "google_redirect_uris": lambda v: isinstance(v, list) and all(isinstance(u, str) for u in v),
    "new_refund_status": lambda v: v in INITIAL_STATUSES,
}


@bp.get("/health")
def health():
    """Say the emulator is up, and how many webhook attempts are still to be made."""
    return {"status": "ok", "pending_deliveries": current().dispatcher.pending()}


@bp.route("/config", methods=["GET", "POST"])
def config():
    """Read or change run-time settings.

    ``webhook_url``/``webhook_secret`` are those of the endpoint ``EMULATOR_WEBHOOK_URL``
    names; ``new_refund_status`` (``succeeded``/``pending``) is what new refunds start as.
    """
    emulator = current()
    if request.method == "POST":
        changes = _validated(body(*CHECKS))
        if "google_redirect_uris" in changes:
            emulator.google.redirect_uris = changes.pop("google_redirect_uris")
        if "new_refund_status" in changes:
            emulator.settings["new_refund_status"] = changes.pop("new_refund_status")
        emulator.store.configure_default_endpoint(
            changes.pop("webhook_url", None), changes.pop("webhook_secret", None)
        )
        emulator.dispatcher.configure(changes)
    return {
        **emulator.dispatcher.config(),
        "webhook_url": emulator.store.default_endpoint["url"],
        "new_refund_status": emulator.settings.get("new_refund_status", "succeeded"),
        "google_redirect_uris": emulator.google.redirect_uris,
    }


def _validated(sent: dict[str, Any]) -> dict[str, Any]:
    for key, value in sent.items():
        if not CHECKS[key](value):
            raise invalid_param(key, f"Invalid value for {key}: {value!r}")
    return dict(sent)


@bp.post("/reset")
def reset():
    """Forget sessions, payments, events, endpoints, deliveries and Google codes; re-seed the packs."""
    emulator = current()
    emulator.dispatcher.reset()
    with emulator.store.lock:
        emulator.store.reset(keep=())
        catalog.seed(emulator.store)
    emulator.settings["new_refund_status"] = "succeeded"
    emulator.google.reset()
    traffic.traffic().reset()
    current_app.extensions["mail_sink"].clear()
    return {"status": "reset"}
