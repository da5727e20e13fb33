"""Error handlers: JSON for /api/, a fragment for htmx, a page otherwise."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, jsonify, make_response, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from werkzeug.exceptions import HTTPException, InternalServerError

from creditapp.extensions import db, login_manager
from creditapp.platform import db_health
from creditapp.platform.error_words import words_for
from creditapp.platform.htmx import is_htmx, wants_json

log = logging.getLogger("creditapp.platform.errors")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


def error_response(status: int, message: str, code: str | None = None):
    """Render an error in the shape the client asked for (Stripe's webhook always gets JSON)."""
    code = code or CODES.get(status, "error")
    if wants_json() or request.path.startswith("/webhooks/"):
        return jsonify({"error": code, "message": message}), status
    again = _form_again(status, message, code)
    if again is not None:
        return again
    template = "_partials/error.html" if is_htmx() else "error.html"
    return render_template(template, status=status, message=message), status


# A form posted without JavaScript that is refused before its view runs (an expired CSRF
# token, a rate limit) comes back as the form, with what the person typed and the problem.
# A domain offers its form with `keep_form`: endpoint -> render(status, message, code).
FORMS_KEPT: dict[str, Callable[[int, str, str], str]] = {}
KEPT_STATUSES = {400, 422, 429}


def keep_form(endpoint: str, render: Callable[[int, str, str], str]) -> None:
    """Offer "render this form again" for a POST endpoint refused before its view ran."""
    FORMS_KEPT[endpoint] = render


def _form_again(status: int, message: str, code: str):
    if (
        status not in KEPT_STATUSES
        or request.method != "POST"
        or is_htmx()
        or request.endpoint not in FORMS_KEPT
        or not current_user.is_authenticated
    ):
        return None
    return FORMS_KEPT[request.endpoint](status, message, code), status


def init_app(app: Flask) -> None:
    """Register the handlers on the app."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        if not current_user.is_authenticated:
            # Signed out (say, in another tab): the answer is "sign in", not "bad form".
            return login_manager.unauthorized()
        return error_response(
            400,
            f"The form expired or was not sent from this site ({exc.description}). "
            "Reload the page and try again.",
            "csrf_failed",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = make_response(*error_response(exc.code or 500, words_for(exc)))
        for name, value in exc.get_headers():  # what HTTP asks of the status: a 405's Allow, …
            if name.lower() != "content-type":
                response.headers[name] = value
        if exc.code == 429 and getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PendingRollbackError)
    def database_error(exc: Exception):
        db.session.rollback()
        if not db_health.is_transient(exc):
            # A constraint or data error is a bug, not an outage: say so, don't ask for retries.
            log.exception("database error on %s %s", request.method, request.path)
            return error_response(500, "Something went wrong on our side. Nothing was charged twice.")
        # The database is unreachable or timed out: a retryable 503, never a half-write.
        log.error("database error: %s", exc.__class__.__name__)
        return error_response(503, "The service is briefly unavailable. Please try again.")

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500, "Something went wrong on our side. Nothing was charged twice; please try again."
        )
