"""Notifications: the e-mail outbox's composing and sending, and the alert settings page."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The e-mail alert settings page (under /account)."""
    from creditapp.notifications import views

    app.register_blueprint(views.bp)
