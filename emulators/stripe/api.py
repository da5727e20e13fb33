"""The Stripe REST API under ``/v1``, as the official SDK calls it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, request

from ..context import base_url, current
from . import (
    catalog,
    customers,
    disputes,
    endpoints,
    intents,
    invoices,
    payments,
    refunds,
    schemas,
    traffic,
)
from .errors import invalid_param
from .params import Hash
from .wire import authenticate, idempotent, params, request_info, stripe_headers

bp = Blueprint("stripe_api", __name__, url_prefix="/v1")
bp.before_request(authenticate)
bp.before_request(traffic.record_and_fail)
bp.after_request(stripe_headers)
bp.after_request(traffic.mark_fault)


def _retrieve(kind: str, object_id: str, schema: Hash = schemas.RETRIEVE) -> dict[str, Any]:
    store = current().store
    body = params(schema)
    with store.lock:
        return store.expand(store.get(kind, object_id), body.get("expand") or [])


def _list(
    kind: str,
    schema: Hash,
    filters: tuple[str, ...] = (),
    extra: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """List ``kind``: ``filters`` name fields matched for equality; ``extra`` filters more."""
    body = params(schema)
    wanted = {name: body[name] for name in filters if body.get(name) is not None}

    def matches(obj: dict[str, Any]) -> bool:
        return all(obj.get(name) == value for name, value in wanted.items()) and (extra is None or extra(obj))

    store = current().store
    with store.lock:
        return store.list(kind, body, request.path, matches)


def _expanded(obj: dict[str, Any]) -> dict[str, Any]:
    return current().store.expand(obj, g.params.get("expand") or [])


@bp.get("/products")
def list_products():
    """List Products."""
    return _list("product", schemas.PRODUCT_LIST, ("active",))


@bp.post("/products")
@idempotent
def create_product():
    """Create a Product."""
    return _expanded(catalog.create_product(current().store, params(schemas.PRODUCT_CREATE)))


@bp.get("/products/<product_id>")
def retrieve_product(product_id: str):
    """Retrieve a Product."""
    return _retrieve("product", product_id)


@bp.get("/prices")
def list_prices():
    """List Prices, filtered by ``active``, ``lookup_keys[]``, ``product``, ``type``, ``currency``."""
    return _list("price", schemas.PRICE_LIST, extra=catalog.price_filter(params(schemas.PRICE_LIST)))


@bp.post("/prices")
@idempotent
def create_price():
    """Create a Price."""
    return _expanded(catalog.create_price(current().store, params(schemas.PRICE_CREATE)))


@bp.get("/prices/<price_id>")
def retrieve_price(price_id: str):
    """Retrieve a Price."""
    return _retrieve("price", price_id)


@bp.post("/prices/<price_id>")
@idempotent
def update_price(price_id: str):
    """Update a Price (``active``, ``metadata``, ``lookup_key``, ``nickname``)."""
    return _expanded(catalog.update_price(current().store, price_id, params(schemas.PRICE_UPDATE)))


@bp.post("/checkout/sessions")
@idempotent
def create_checkout_session():
    """Create a Checkout Session whose ``url`` is the stand-in's hosted page."""
    body = params(schemas.SESSION_CREATE)
    return _expanded(payments.create_session(current().store, body, f"{base_url()}/c/pay"))


@bp.get("/checkout/sessions")
def list_checkout_sessions():
    """List Checkout Sessions, filtered by ``created``, ``status``, ``payment_intent``, e-mail."""
    email = (params(schemas.SESSION_LIST).get("customer_details") or {}).get("email")
    return _list(
        "checkout.session",
        schemas.SESSION_LIST,
        ("status", "payment_intent"),
        (lambda s: (s["customer_details"] or {}).get("email") == email) if email else None,
    )


@bp.get("/checkout/sessions/<session_id>")
def retrieve_checkout_session(session_id: str):
    """Retrieve a Checkout Session (``expand`` e.g. ``line_items``, ``payment_intent``)."""
    return _retrieve("checkout.session", session_id)


@bp.get("/checkout/sessions/<session_id>/line_items")
def list_line_items(session_id: str):
    """List a Checkout Session's line items."""
    body = params(schemas.LINE_ITEM_LIST)
    store = current().store
    with store.lock:
        store.get("checkout.session", session_id, param="session")
        items = store.session_line_items(session_id)["data"]
        return store.paginate(items, body, request.path, "item")


@bp.post("/checkout/sessions/<session_id>/expire")
@idempotent
def expire_checkout_session(session_id: str):
    """Expire an open Checkout Session."""
    params(schemas.SESSION_EXPIRE)
    return _expanded(payments.expire(current().store, session_id, request_info()))


@bp.get("/payment_intents")
def list_payment_intents():
    """List PaymentIntents, optionally of one ``customer``."""
    return _list("payment_intent", schemas.PAYMENT_INTENT_LIST, ("customer",))


@bp.post("/payment_intents")
@idempotent
def create_payment_intent():
    """Create a PaymentIntent; ``confirm`` + ``off_session`` charge a saved card now."""
    body = params(schemas.PAYMENT_INTENT_CREATE)
    return _expanded(intents.create(current().store, body, f"{base_url()}/c/receipts"))


@bp.post("/customers")
@idempotent
def create_customer():
    """Create a Customer."""
    return _expanded(customers.create_customer(current().store, params(schemas.CUSTOMER_CREATE)))


@bp.get("/customers/<customer_id>")
def retrieve_customer(customer_id: str):
    """Retrieve a Customer."""
    return _retrieve("customer", customer_id)


@bp.get("/payment_methods")
def list_payment_methods():
    """List PaymentMethods, of one ``customer`` and ``type`` (the types the hosted page pays with)."""
    body = params(schemas.PAYMENT_METHOD_LIST)
    if body.get("type") not in (None, *customers.METHOD_TYPES):
        raise invalid_param(
            "type",
            f"The local Stripe stand-in does not implement type={body['type']}, only "
            f"{', '.join(customers.METHOD_TYPES)}.",
        )
    return _list("payment_method", schemas.PAYMENT_METHOD_LIST, ("customer", "type"))


@bp.get("/payment_methods/<payment_method_id>")
def retrieve_payment_method(payment_method_id: str):
    """Retrieve a PaymentMethod."""
    return _retrieve("payment_method", payment_method_id)


@bp.post("/payment_methods/<payment_method_id>/detach")
@idempotent
def detach_payment_method(payment_method_id: str):
    """Detach a PaymentMethod from its Customer."""
    params(schemas.PAYMENT_METHOD_DETACH)
    return _expanded(customers.detach(current().store, payment_method_id))


@bp.get("/payment_intents/<intent_id>")
def retrieve_payment_intent(intent_id: str):
    """Retrieve a PaymentIntent (``latest_charge`` is expandable)."""
    return _retrieve("payment_intent", intent_id, schemas.PAYMENT_INTENT_RETRIEVE)


@bp.get("/charges")
def list_charges():
    """List Charges, optionally for one ``payment_intent``."""
    return _list("charge", schemas.CHARGE_LIST, ("payment_intent",))


@bp.get("/charges/<charge_id>")
def retrieve_charge(charge_id: str):
    """Retrieve a Charge (its ``refunds`` only when expanded, as since API 2022-11-15)."""
    return _retrieve("charge", charge_id)


@bp.get("/charges/<charge_id>/refunds")
def list_charge_refunds(charge_id: str):
    """List the refunds of one Charge."""
    params(schemas.CHARGE_REFUND_LIST)  # as Stripe: parameters are checked before the charge is looked up
    store = current().store
    with store.lock:
        store.get("charge", charge_id, param="charge")
    return _list("refund", schemas.CHARGE_REFUND_LIST, extra=lambda refund: refund["charge"] == charge_id)


@bp.post("/refunds")
@idempotent
def create_refund():
    """Refund a charge, fully or partly, by ``charge`` or ``payment_intent``."""
    emulator = current()
    status = emulator.settings.get("new_refund_status", "succeeded")
    refund = refunds.create(emulator.store, params(schemas.REFUND_CREATE), request_info(), status)
    return _expanded(refund)


@bp.get("/refunds")
def list_refunds():
    """List Refunds, optionally for one ``charge`` or ``payment_intent``."""
    return _list("refund", schemas.REFUND_LIST, ("charge", "payment_intent"))


@bp.get("/refunds/<refund_id>")
def retrieve_refund(refund_id: str):
    """Retrieve a Refund."""
    return _retrieve("refund", refund_id)


@bp.get("/disputes")
def list_disputes():
    """List Disputes, optionally for one ``charge`` or ``payment_intent``."""
    return _list("dispute", schemas.DISPUTE_LIST, ("charge", "payment_intent"))


@bp.get("/disputes/<dispute_id>")
def retrieve_dispute(dispute_id: str):
    """Retrieve a Dispute."""
    return _retrieve("dispute", dispute_id)


@bp.post("/disputes/<dispute_id>/close")
@idempotent
def accept_dispute(dispute_id: str):
    """Accept a Dispute, as Stripe's ``close`` does: a chargeback is lost, an inquiry closed."""
    params(schemas.DISPUTE_CLOSE)
    return _expanded(disputes.accept(current().store, dispute_id, request_info()))


@bp.post("/invoiceitems")
@idempotent
def create_invoice_item():
    """Create an invoice item for a Customer (on a draft ``invoice``, or pending)."""
    return _expanded(invoices.create_item(current().store, params(schemas.INVOICEITEM_CREATE)))


@bp.post("/invoices")
@idempotent
def create_invoice():
    """Create a draft Invoice for a Customer."""
    return _expanded(invoices.create_invoice(current().store, params(schemas.INVOICE_CREATE)))


@bp.get("/invoices/<invoice_id>")
def retrieve_invoice(invoice_id: str):
    """Retrieve an Invoice (``expand[]=payments`` includes its payments)."""
    return _retrieve("invoice", invoice_id)


@bp.post("/invoices/<invoice_id>/finalize")
@idempotent
def finalize_invoice(invoice_id: str):
    """Finalize a draft Invoice: its number, tax, hosted page and PDF."""
    body = params(schemas.INVOICE_FINALIZE)
    store = current().store
    with store.lock:
        invoice = invoices.finalize(
            store, invoice_id, base_url(), auto_advance=body.get("auto_advance"), request=request_info()
        )
        return _expanded(invoice)


@bp.post("/invoices/<invoice_id>/pay")
@idempotent
def pay_invoice(invoice_id: str):
    """Pay an Invoice with ``payment_method`` (``off_session=true`` for a saved card)."""
    body = params(schemas.INVOICE_PAY)
    store = current().store
    with store.lock:
        invoice = invoices.pay(store, invoice_id, body, base_url(), f"{base_url()}/c/receipts")
        return _expanded(invoice)


@bp.get("/events")
def list_events():
    """List Events, filtered by ``type`` (a trailing ``*`` matches a prefix), ``types[]``, ``created``."""
    body = params(schemas.EVENT_LIST)
    pattern, types = body.get("type"), set(body.get("types") or [])
    delivered = body.get("delivery_success")

    def matches(event: dict[str, Any]) -> bool:
        if pattern is not None:
            prefix = pattern[:-1] if pattern.endswith("*") else None
            if not (event["type"].startswith(prefix) if prefix else event["type"] == pattern):
                return False
        if types and event["type"] not in types:
            return False
        return delivered is None or current().dispatcher.delivered(event["id"]) == delivered

    return _list("event", schemas.EVENT_LIST, extra=matches)


@bp.get("/events/<event_id>")
def retrieve_event(event_id: str):
    """Retrieve an Event."""
    return _retrieve("event", event_id)


@bp.post("/webhook_endpoints")
@idempotent
def create_webhook_endpoint():
    """Create a webhook endpoint; only this answer carries its signing ``secret``."""
    return endpoints.create(current().store, params(schemas.WEBHOOK_ENDPOINT_CREATE))


@bp.get("/webhook_endpoints")
def list_webhook_endpoints():
    """List webhook endpoints."""
    return _list("webhook_endpoint", schemas.WEBHOOK_ENDPOINT_LIST)


@bp.get("/webhook_endpoints/<endpoint_id>")
def retrieve_webhook_endpoint(endpoint_id: str):
    """Retrieve a webhook endpoint (without its secret, as Stripe does)."""
    return _retrieve("webhook_endpoint", endpoint_id)


@bp.post("/webhook_endpoints/<endpoint_id>")
@idempotent
def update_webhook_endpoint(endpoint_id: str):
    """Update a webhook endpoint's ``url``, ``enabled_events``, ``disabled``, description, metadata."""
    body = params(schemas.WEBHOOK_ENDPOINT_UPDATE)
    return _expanded(endpoints.update(current().store, endpoint_id, body))


@bp.delete("/webhook_endpoints/<endpoint_id>")
def delete_webhook_endpoint(endpoint_id: str):
    """Delete a webhook endpoint."""
    params(schemas.WEBHOOK_ENDPOINT_DELETE)
    store = current().store
    with store.lock:
        return endpoints.delete(store, endpoint_id)
