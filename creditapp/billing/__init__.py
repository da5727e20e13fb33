"""Billing: packs, Checkout, receipts, payment methods, Stripe webhooks, reconcile, `flask stripe`."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The pricing and Checkout pages, the webhook endpoint and the `flask stripe` commands."""
    from creditapp.billing import cli, views, webhooks

    app.register_blueprint(views.bp)
    app.register_blueprint(webhooks.bp)
    app.cli.add_command(cli.stripe_cli)
