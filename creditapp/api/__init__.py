"""The OpenAPI description of the JSON API, built from the routes the domains register."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Serve the description at /api/openapi.json."""
    from creditapp.api import openapi

    app.register_blueprint(openapi.bp)
