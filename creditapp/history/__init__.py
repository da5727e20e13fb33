"""History: the ledger as people read it, usage, the balance badge, CSV, purchase words."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """History's pages and the badge."""
    from creditapp.history import views

    views.init_app(app)
