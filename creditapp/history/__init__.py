"""History: the ledger as people read it, usage, the balance badge, CSV, purchase words."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """History's pages, the badge, and usage (its page and `GET /api/usage`)."""
    from creditapp.history import usage_views, views

    views.init_app(app)
    usage_views.init_app(app)
