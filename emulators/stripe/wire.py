"""How ``/v1`` requests arrive and answers leave: API keys, headers, parameters, idempotency."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Response, g, jsonify, request

from ..context import current
from . import objects
from .errors import StripeError
from .forms import parse_nested
from .params import Hash, check

TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


def authenticate() -> None:
    """Require a test-mode secret key, as Bearer token or Basic username."""
    g.request_id = objects.new_id("req_", 14)
    key = _api_key()
    if not key:
        raise StripeError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            status=401,
        )
    if not key.startswith(TEST_KEY_PREFIXES) or len(key) <= len("sk_test_"):
        raise StripeError(f"Invalid API Key provided: {key[:8]}{'*' * 8}", status=401)
    g.api_key = key


def stripe_headers(response: Response) -> Response:
    """Add the headers Stripe puts on every API response."""
    response.headers["Request-Id"] = g.get("request_id", "")
    response.headers["Stripe-Version"] = objects.API_VERSION
    if request.headers.get("Idempotency-Key"):
        response.headers["Idempotency-Key"] = request.headers["Idempotency-Key"]
    return response


def _api_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username
    return None


def raw_params() -> dict[str, Any]:
    """Return the request's query and form/JSON parameters as nested dicts and lists."""
    try:
        pairs = list(request.args.items(multi=True))
        if request.is_json:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise StripeError("Send the parameters form-encoded, or as one JSON object.")
            return {**parse_nested(pairs), **body}
        pairs += list(request.form.items(multi=True))
        return parse_nested(pairs)
    except ValueError as exc:
        raise StripeError(str(exc)) from None


def params(schema: Hash) -> dict[str, Any]:
    """Return the request's parameters checked against ``schema`` (cached for the request)."""
    if "params" not in g:
        g.params = check(schema, raw_params())
    return g.params


def request_info() -> dict[str, Any]:
    """Return the ``request`` block events carry when an API call caused them."""
    return {"id": g.request_id, "idempotency_key": request.headers.get("Idempotency-Key")}


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Replay the stored response for a repeated ``Idempotency-Key``, as Stripe does."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        store = current().store
        if not key:
            with store.lock:
                return jsonify(view(*args, **kwargs))
        fingerprint = json.dumps([request.method, request.path, raw_params()], sort_keys=True)
        scope = f"{g.api_key}:{key}"
        # Held across the call so a concurrent request with the same key waits, then replays.
        with store.lock:
            stored = store.idempotency.get(scope)
            if stored is not None:
                if stored[0] != fingerprint:
                    raise StripeError(
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than '{key}' if you "
                        "meant to execute a different request.",
                        type="idempotency_error",
                    )
                replay = Response(stored[2], status=stored[1], mimetype="application/json")
                replay.headers["Idempotent-Replayed"] = "true"
                return replay
            try:
                response = jsonify(view(*args, **kwargs))
            except StripeError as exc:
                if exc.status != 402:
                    raise
                # A declined charge is a result: Stripe replays it for the same key.
                response = jsonify(exc.body())
                response.status_code = exc.status
            store.idempotency[scope] = (fingerprint, response.status_code, response.get_data())
            return response

    return wrapper
