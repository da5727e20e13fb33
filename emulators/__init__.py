"""Local stand-ins for Stripe and Google sign-in, for development and tests only."""

from .app import create_app

__all__ = ["create_app"]
