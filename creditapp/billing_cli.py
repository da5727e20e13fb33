"""`flask credits reconcile` and `flask stripe replay` (filled in with billing)."""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup


def register(app: Flask, credits_cli: AppGroup) -> None:
    """Add the Stripe-facing commands."""
