"""One StripeClient per app, pointed at the local stand-in when STRIPE_API_BASE is set."""

from __future__ import annotations

import stripe
from flask import Flask, current_app

TIMEOUT_SECONDS = 20


def init_app(app: Flask) -> None:
    """Build the client from the app's Stripe settings."""
    app.extensions["stripe_client"] = build_client(
        app.config["STRIPE_SECRET_KEY"], app.config.get("STRIPE_API_BASE")
    )


def build_client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    """A StripeClient; the emulator base replaces Stripe's API host when given."""
    # A short timeout: a hung Stripe call must not hold a worker (or the pack cache lock).
    kwargs: dict = {"max_network_retries": 2, "http_client": stripe.RequestsClient(timeout=TIMEOUT_SECONDS)}
    if api_base:
        kwargs["base_addresses"] = {"api": api_base}
    return stripe.StripeClient(api_key or "sk_test_missing", **kwargs)


def client() -> stripe.StripeClient:
    """The current app's StripeClient."""
    return current_app.extensions["stripe_client"]
