"""Rate limits on sign-in, checkout, spending, API keys and the staff console; never on the Stripe webhook.

Budgets come from the config (RATELIMIT_SIGNIN, RATELIMIT_CHECKOUT, RATELIMIT_SPEND,
RATELIMIT_API_KEY for the other `/api/` routes called with a key, RATELIMIT_STAFF for
every `/admin/` route, per staff member, e.g.
"30/minute"; the environment may set them) and are counted in RATELIMIT_STORAGE_URI:
Redis when REDIS_URL is set, so every worker and instance shares one count.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

from flask import Flask, current_app, g, make_response, request, session
from flask_limiter import RateLimitExceeded, RouteLimit
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from creditapp.extensions import limiter
from creditapp.platform.errors import error_response

DEFAULTS = {
    "RATELIMIT_SIGNIN": "20/minute",
    "RATELIMIT_CHECKOUT": "10/minute",
    "RATELIMIT_SPEND": "30/minute",
    "RATELIMIT_API_KEY": "300/minute",
    "RATELIMIT_STAFF": "120/minute",
}
SIGNIN_ENDPOINTS = ("auth.login", "auth.callback")
CHECKOUT_ENDPOINTS = ("billing.checkout",)
# Every feature's page form and JSON API post under these (creditapp/features/views.py).
SPEND_PREFIXES = ("/features/", "/api/features/")
# The staff console (creditapp/staff): one budget per staff member for all its pages.
STAFF_PREFIX = "/admin/"

# Flask-Limiter registers a limit per view-function name in one global table; building
# each limit once keeps a second app in the same process from counting every hit twice.
_limits: dict[str, RouteLimit] = {}


def client_ip() -> str:
    """The client's address (ProxyFix makes it the real one behind TRUSTED_PROXY_HOPS proxies)."""
    return f"ip:{request.remote_addr or 'unknown'}"


def current_key():
    """The API key the request is authenticated by (Bearer auth keeps it in `g.api_key`), or None."""
    return g.get("api_key")


def user_or_ip() -> str:
    """The API key (each key its own budget), else the signed-in user's id, else the client's address."""
    key = current_key()
    if key is not None:
        return f"key:{key.key_id}"
    # Reading Flask-Login's session key rather than current_user keeps the limiter off the
    # database: a failing query here would be swallowed and leave the session unusable.
    # The session holds `id:auth_version:sign-in id` (User.get_id): count per user, not per sign-in.
    user_id = str(session.get("_user_id") or "").split(":")[0]
    return f"user:{user_id}" if user_id else client_ip()


def _configured(key: str) -> Callable[[], str]:
    def limit() -> str:
        return current_app.config.get(key) or DEFAULTS[key]

    limit.__name__ = key.lower()
    return limit


def _route_limits() -> dict[str, RouteLimit]:
    if not _limits:
        _limits["signin"] = limiter.limit(_configured("RATELIMIT_SIGNIN"), key_func=client_ip)
        _limits["checkout"] = limiter.limit(
            _configured("RATELIMIT_CHECKOUT"), key_func=user_or_ip, methods=["POST"]
        )
        # One budget for the page form and the JSON API together.
        _limits["spend"] = limiter.shared_limit(
            _configured("RATELIMIT_SPEND"), scope="spend", key_func=user_or_ip, methods=["POST"]
        )
        # Every other /api/ route, per key; browser sessions are not counted here.
        _limits["api_key"] = limiter.shared_limit(
            _configured("RATELIMIT_API_KEY"),
            scope="api-key",
            key_func=user_or_ip,
            exempt_when=lambda: current_key() is None,
        )
        _limits["staff"] = limiter.shared_limit(
            _configured("RATELIMIT_STAFF"), scope="staff", key_func=user_or_ip
        )
    return _limits


def staff_endpoints(app: Flask) -> list[str]:
    """Endpoints of the staff console."""
    return sorted({rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith(STAFF_PREFIX)})


def api_key_endpoints(app: Flask) -> list[str]:
    """Endpoints of the `/api/` routes that do not spend (spending has its own budget)."""
    spending = set(spend_endpoints(app))
    return sorted(
        {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")} - spending
    )


def spend_endpoints(app: Flask) -> list[str]:
    """Endpoints that spend credits: whatever serves POST on a feature's path."""
    return sorted(
        {
            rule.endpoint
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith(SPEND_PREFIXES) and "POST" in rule.methods
        }
    )


def limited_endpoints(app: Flask) -> dict[str, str]:
    """Endpoint name -> which limit applies, for the endpoints this app has."""
    wanted = {name: "signin" for name in SIGNIN_ENDPOINTS}
    wanted |= {name: "checkout" for name in CHECKOUT_ENDPOINTS}
    wanted |= {name: "spend" for name in spend_endpoints(app)}
    wanted |= {name: "api_key" for name in api_key_endpoints(app)}
    wanted |= {name: "staff" for name in staff_endpoints(app)}
    return {name: kind for name, kind in wanted.items() if name in app.view_functions}


def stripe_read_allowed(user_id: int) -> bool:
    """Take one Stripe read from the person's budget (RATELIMIT_STRIPE_READS); False once spent.

    Counted only when a page really needs Stripe (a purchase still in flight), in the same
    storage as the other limits. A storage outage allows the read, as for the other limits.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    try:
        return _stripe_reads().hit(*_stripe_read_limit(user_id))
    except Exception:  # the storage is down: one Stripe read beats a broken page
        return True


def stripe_read_retry_after(user_id: int) -> int:
    """Seconds until the person's Stripe-read budget has room again (at least 1)."""
    try:
        reset_at, _remaining = _stripe_reads().get_window_stats(*_stripe_read_limit(user_id))
    except Exception:
        return 60
    return max(1, math.ceil(reset_at - time.time()))


def _stripe_reads() -> FixedWindowRateLimiter:
    reads = current_app.extensions.get("stripe_read_limiter")
    if reads is None:
        storage = storage_from_string(current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
        reads = current_app.extensions["stripe_read_limiter"] = FixedWindowRateLimiter(storage)
    return reads


def _stripe_read_limit(user_id: int) -> tuple:
    limit = parse(current_app.config["RATELIMIT_STRIPE_READS"])
    return limit, current_app.config.get("RATELIMIT_KEY_PREFIX", ""), "stripe-reads", str(user_id)


def retry_after_seconds() -> int:
    """Seconds until the breached limit's window resets (at least 1)."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def too_many_requests(exc: RateLimitExceeded):
    """429 in the shape the client asked for (JSON for /api), with Retry-After."""
    retry = retry_after_seconds()
    body, status = error_response(
        429,
        f"Too many requests (limit {exc.description}). Please wait {retry} seconds and try again.",
        "rate_limited",
    )
    response = make_response(body, status)
    response.headers["Retry-After"] = str(retry)
    return response


def init_app(app: Flask) -> None:
    """Apply the limits to the endpoints that need them (after the blueprints are registered)."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, os.environ.get(key) or value)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    if not app.config.get("RATELIMIT_ENABLED", True):
        return
    limits = _route_limits()
    for endpoint, kind in limited_endpoints(app).items():
        app.view_functions[endpoint] = limits[kind](app.view_functions[endpoint])
