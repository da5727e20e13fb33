"""Accounts: Google sign-in, sessions and sign-out, API keys and Bearer auth, the account pages."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Sign-in (Flask-Login, Bearer auth with the CSRF check, the Google client) and its pages."""
    from creditapp.accounts import credit_lots, key_pages, login, pages, sign_in

    login.init_app(app)
    for blueprint in (sign_in.bp, pages.bp, key_pages.bp):
        app.register_blueprint(blueprint)
    credit_lots.init_app(app)
