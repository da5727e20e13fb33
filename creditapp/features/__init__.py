"""Paid features: the kit (`base`, `registry`, `idempotency`) and one subpackage per feature."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Each feature's pages and API."""
    from creditapp.features import registry
    from creditapp.features.image import views as image_views
    from creditapp.jobs import runnable

    runnable.register(app, registry.FEATURES.values())
    image_views.init_app(app)
