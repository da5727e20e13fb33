"""Automatic top-up: the settings pages, saving a card, charging a top-up."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The top-up settings pages (under /account)."""
    from creditapp.topups import views

    app.register_blueprint(views.bp)
