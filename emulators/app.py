"""The emulator's Flask app factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from . import controls, mail, settings
from .context import Emulator
from .google import routes as google_routes
from .google.tokens import OAuthError, OidcProvider
from .openai import routes as openai_routes
from .stripe import api as stripe_api
from .stripe import catalog, checkout_page, invoice_pages
from .stripe import controls as stripe_controls
from .stripe import traffic as stripe_traffic
from .stripe.errors import StripeError
from .stripe.state import Store
from .stripe.webhooks import WebhookDispatcher


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the emulator app; ``config`` overrides the defaults (None: read the environment)."""
    options = settings.from_env() if config is None else {**settings.DEFAULTS, **config}
    app = Flask(__name__)
    app.json.sort_keys = False
    emulator = build_emulator(options)
    app.extensions["emulator"] = emulator
    for blueprint in (
        stripe_api.bp,
        checkout_page.bp,
        invoice_pages.bp,
        stripe_controls.bp,
        stripe_traffic.bp,
        controls.bp,
        google_routes.bp,
        openai_routes.bp,
    ):
        app.register_blueprint(blueprint)
    mail.init_app(app)
    register_error_handlers(app)
    emulator.dispatcher.start()
    return app


def build_emulator(options: dict[str, Any]) -> Emulator:
    """Create the store (seeded), the webhook dispatcher and the Google provider."""
    dispatcher = WebhookDispatcher(
        enabled=options["webhooks_enabled"],
        max_attempts=options["max_attempts"],
        retry_base_seconds=options["retry_base_seconds"],
    )
    store = Store(dispatcher, options["webhook_url"], options["webhook_secret"])
    dispatcher.resolve = store.endpoint_target
    catalog.seed(store)
    provider = OidcProvider(
        options["google_client_id"],
        options["google_client_secret"],
        options["google_redirect_uris"],
    )
    return Emulator(settings=dict(options), store=store, dispatcher=dispatcher, google=provider)


def register_error_handlers(app: Flask) -> None:
    """Answer errors the way the emulated service would."""

    @app.errorhandler(StripeError)
    def stripe_error(exc: StripeError):
        return jsonify(exc.body()), exc.status

    @app.errorhandler(OAuthError)
    def oauth_error(exc: OAuthError):
        return jsonify(error=exc.error, error_description=exc.description), exc.status

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        app.logger.exception("emulator bug while serving %s %s", request.method, request.path)
        if request.path.startswith("/v1/"):
            body = StripeError("An unexpected error occurred in the emulator.", status=500, type="api_error")
            return jsonify(body.body()), 500
        return jsonify(error="server_error", message=str(exc)), 500

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/v1/"):
            message = (
                f"Unrecognized request URL ({request.method}: {request.path}). "
                "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
            )
            return jsonify(StripeError(message).body()), exc.code
        if request.path.startswith(("/_emulator/", "/google/token", "/google/v1/")):
            return jsonify(error=exc.name, message=exc.description), exc.code
        return exc
