"""Rate limits on sign-in, checkout creation and spending (filled in with production work)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Apply the limits to the endpoints that need them."""
