"""The emulator's shared state, reachable from any view through ``current()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, request

from .google.tokens import OidcProvider
from .stripe.state import Store
from .stripe.webhooks import WebhookDispatcher


@dataclass
class Emulator:
    """Everything one emulator app owns."""

    settings: dict[str, Any]
    store: Store
    dispatcher: WebhookDispatcher
    google: OidcProvider

    def close(self) -> None:
        """Stop background work (the webhook thread)."""
        self.dispatcher.stop()


def current() -> Emulator:
    """Return the emulator behind the current Flask app."""
    return current_app.extensions["emulator"]


def base_url() -> str:
    """Return the emulator's public origin, e.g. ``http://127.0.0.1:12111``."""
    return current().settings.get("public_url") or request.host_url.rstrip("/")
