"""Plumbing every domain may use, importing none of them.

Transactions and SQL helpers, database health, htmx, error responses, request input checks,
money formatting, the clock, security headers, rate limits, logs and metrics, static files
and the Stripe client.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """What every request and every Stripe call rests on; runs before the domains."""
    from creditapp.platform import db_health, observability, security, static_files, stripe_client

    db_health.init_app(app)
    stripe_client.init_app(app)
    security.init_app(app)
    observability.init_app(app)
    static_files.init_app(app)


def init_after_views(app: Flask) -> None:
    """What wraps the domains' views, so it runs once they are registered.

    Text no database can store gets its 422 before any view (after Bearer auth); the rate
    limits wrap the endpoints that exist; errors answer HTML, JSON or htmx fragments.
    """
    from creditapp.platform import errors, input_checks, ratelimits

    input_checks.init_app(app)
    ratelimits.init_app(app)
    errors.init_app(app)
