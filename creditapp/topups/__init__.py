"""Automatic top-up: the settings pages, keeping the saved card, charging a top-up."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The top-up settings pages (under /account), and the top-up side of billing's payments."""
    from creditapp.billing import off_session
    from creditapp.topups import charging, settings, views

    app.register_blueprint(views.bp)
    off_session.register(
        app,
        off_session.OffSession(
            keep_payment_method=settings.save_payment_method,
            purchase_for_intent=charging.purchase_for_intent,
            settle=charging.settle,
        ),
    )
