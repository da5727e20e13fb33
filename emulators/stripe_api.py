"""The Stripe REST API under ``/v1``, as the official SDK calls it."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from . import catalog, payments, stripe_objects
from .context import base_url, current
from .errors import StripeError
from .forms import as_bool, parse_nested
from .stripe_state import expand_paths

bp = Blueprint("stripe_api", __name__, url_prefix="/v1")
TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


@bp.before_request
def authenticate() -> None:
    """Require a test-mode secret key, as Bearer token or Basic username."""
    g.request_id = stripe_objects.new_id("req_", 14)
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


@bp.after_request
def stripe_headers(response: Response) -> Response:
    """Add the headers Stripe puts on every API response."""
    response.headers["Request-Id"] = g.get("request_id", "")
    response.headers["Stripe-Version"] = stripe_objects.API_VERSION
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


def params() -> dict[str, Any]:
    """Return the request's query and form/JSON parameters as nested dicts and lists."""
    try:
        pairs = list(request.args.items(multi=True))
        if request.is_json:
            return {**parse_nested(pairs), **(request.get_json(silent=True) or {})}
        pairs += list(request.form.items(multi=True))
        return parse_nested(pairs)
    except ValueError as exc:
        raise StripeError(str(exc)) from None


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
        fingerprint = json.dumps([request.method, request.path, params()], sort_keys=True)
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
            response = jsonify(view(*args, **kwargs))
            store.idempotency[scope] = (fingerprint, response.status_code, response.get_data())
            return response

    return wrapper


def _retrieve(kind: str, object_id: str) -> dict[str, Any]:
    store = current().store
    with store.lock:
        return store.expand(store.get(kind, object_id), expand_paths(params()))


def _list(kind: str, predicate: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    store = current().store
    with store.lock:
        return store.list(kind, params(), request.path, predicate)


def _fields(names: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
    """Return a predicate matching list filters that compare a field for equality."""
    wanted = {name: value for name in names if (value := params().get(name)) not in (None, "")}
    return lambda obj: all(obj.get(name) == value for name, value in wanted.items())


@bp.get("/products")
def list_products():
    """List Products."""
    active = as_bool(params().get("active"))
    return _list("product", None if active is None else lambda p: p["active"] == active)


@bp.post("/products")
@idempotent
def create_product():
    """Create a Product."""
    return catalog.create_product(current().store, params())


@bp.get("/products/<product_id>")
def retrieve_product(product_id: str):
    """Retrieve a Product."""
    return _retrieve("product", product_id)


@bp.get("/prices")
def list_prices():
    """List Prices, filtered by ``active``, ``lookup_keys[]``, ``product``, ``type``…."""
    return _list("price", catalog.price_filter(params()))


@bp.post("/prices")
@idempotent
def create_price():
    """Create a Price."""
    return catalog.create_price(current().store, params())


@bp.get("/prices/<price_id>")
def retrieve_price(price_id: str):
    """Retrieve a Price."""
    return _retrieve("price", price_id)


@bp.post("/prices/<price_id>")
@idempotent
def update_price(price_id: str):
    """Update a Price (``active``, ``metadata``, ``lookup_key``, ``nickname``)."""
    return catalog.update_price(current().store, price_id, params())


@bp.post("/checkout/sessions")
@idempotent
def create_checkout_session():
    """Create a Checkout Session whose ``url`` is the emulator's hosted page."""
    store, body = current().store, params()
    session = payments.create_session(store, body, f"{base_url()}/c/pay")
    return store.expand(session, expand_paths(body))


@bp.get("/checkout/sessions")
def list_checkout_sessions():
    """List Checkout Sessions, filtered by ``created``, ``status``, ``payment_intent``…."""
    equal = _fields(("status", "payment_intent", "client_reference_id"))
    email = (params().get("customer_details") or {}).get("email")
    return _list(
        "checkout.session",
        lambda s: equal(s) and (not email or (s["customer_details"] or {}).get("email") == email),
    )


@bp.get("/checkout/sessions/<session_id>")
def retrieve_checkout_session(session_id: str):
    """Retrieve a Checkout Session (``expand`` e.g. ``line_items``, ``payment_intent``)."""
    return _retrieve("checkout.session", session_id)


@bp.get("/checkout/sessions/<session_id>/line_items")
def list_line_items(session_id: str):
    """List a Checkout Session's line items."""
    store = current().store
    with store.lock:
        store.get("checkout.session", session_id)
        items = store.session_line_items(session_id)["data"]
        return store.paginate(items, params(), request.path, "item")


@bp.post("/checkout/sessions/<session_id>/expire")
@idempotent
def expire_checkout_session(session_id: str):
    """Expire an open Checkout Session."""
    store = current().store
    session = payments.expire(store, session_id, request_info())
    return store.expand(session, expand_paths(params()))


@bp.get("/payment_intents")
def list_payment_intents():
    """List PaymentIntents."""
    return _list("payment_intent")


@bp.get("/payment_intents/<intent_id>")
def retrieve_payment_intent(intent_id: str):
    """Retrieve a PaymentIntent (``latest_charge`` is expandable)."""
    return _retrieve("payment_intent", intent_id)


@bp.get("/charges")
def list_charges():
    """List Charges, optionally for one ``payment_intent``."""
    return _list("charge", _fields(("payment_intent",)))


@bp.get("/charges/<charge_id>")
def retrieve_charge(charge_id: str):
    """Retrieve a Charge."""
    return _retrieve("charge", charge_id)


@bp.get("/charges/<charge_id>/refunds")
def list_charge_refunds(charge_id: str):
    """List the refunds of one Charge."""
    current().store.get("charge", charge_id)
    return _list("refund", lambda refund: refund["charge"] == charge_id)


@bp.post("/refunds")
@idempotent
def create_refund():
    """Refund a charge, fully or partly, by ``charge`` or ``payment_intent``."""
    store, body = current().store, params()
    return store.expand(payments.refund(store, body, request_info()), expand_paths(body))


@bp.get("/refunds")
def list_refunds():
    """List Refunds, optionally for one ``charge`` or ``payment_intent``."""
    return _list("refund", _fields(("charge", "payment_intent")))


@bp.get("/refunds/<refund_id>")
def retrieve_refund(refund_id: str):
    """Retrieve a Refund."""
    return _retrieve("refund", refund_id)


@bp.get("/disputes")
def list_disputes():
    """List Disputes, optionally for one ``charge`` or ``payment_intent``."""
    return _list("dispute", _fields(("charge", "payment_intent")))


@bp.get("/disputes/<dispute_id>")
def retrieve_dispute(dispute_id: str):
    """Retrieve a Dispute."""
    return _retrieve("dispute", dispute_id)


@bp.post("/disputes/<dispute_id>/close")
@idempotent
def accept_dispute(dispute_id: str):
    """Accept (lose) a Dispute, as Stripe's ``close`` does."""
    return payments.close_dispute(current().store, dispute_id, "lost", request_info())


@bp.get("/events")
def list_events():
    """List Events, filtered by ``type``, ``types[]`` and ``created``."""
    body = params()
    types = set(body.get("types") or [])
    if body.get("type"):
        pattern = body["type"]
        # Stripe accepts a trailing wildcard: "checkout.session.*"
        prefix = pattern[:-1] if pattern.endswith("*") else None
        return _list(
            "event",
            lambda e: e["type"].startswith(prefix) if prefix else e["type"] == pattern,
        )
    return _list("event", (lambda e: e["type"] in types) if types else None)


@bp.get("/events/<event_id>")
def retrieve_event(event_id: str):
    """Retrieve an Event."""
    return _retrieve("event", event_id)
