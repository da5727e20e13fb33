"""Security headers on every response, a request size limit, and trusting a known number of proxies."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, abort, request
from werkzeug.middleware.proxy_fix import ProxyFix

STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
HSTS = "max-age=63072000; includeSubDomains"


def origin(url: str | None) -> str | None:
    """`scheme://host[:port]` of a URL, or None when it has none."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(config: dict) -> str:
    """The CSP: only our own scripts and styles, no framing by others.

    `form-action` also names the checkout and sign-in origins because Chrome applies it
    to the redirect that follows a form post (POST /billing/checkout answers 303 to
    Stripe's hosted page).
    """
    checkout = origin(config.get("STRIPE_API_BASE")) or STRIPE_CHECKOUT_ORIGIN
    sign_in = origin(config.get("GOOGLE_DISCOVERY_URL"))
    form_targets = " ".join(dict.fromkeys(t for t in ("'self'", checkout, sign_in) if t))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            f"form-action {form_targets}",
            "frame-ancestors 'self'",
            "base-uri 'self'",
            "object-src 'none'",
        ]
    )


def refuse_oversize_body() -> None:
    """413 when the declared body is larger than MAX_CONTENT_LENGTH, before it is read.

    A body sent without a length (chunked) is cut off by Werkzeug at the same limit when read.
    """
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        abort(413, f"The request body is larger than the {readable_size(limit)} this service accepts.")


def readable_size(size: int) -> str:
    """`1 MiB`, `64 KiB` or `100 bytes`."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


def init_app(app: Flask) -> None:
    """Add the security headers to every response; trust TRUSTED_PROXY_HOPS proxies."""
    hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
    if hops:
        # Behind a load balancer the client address and scheme come from X-Forwarded-For/-Proto;
        # trusting exactly `hops` entries keeps clients from spoofing their IP (rate limits key on it).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    headers = {
        "Content-Security-Policy": content_security_policy(app.config),
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if app.config.get("ENV_NAME") == "production":
        headers["Strict-Transport-Security"] = HSTS

    # Runs before CSRF, sign-in or any view touches the body, so an oversize one is never read.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversize_body)

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
