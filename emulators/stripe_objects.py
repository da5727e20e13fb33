"""Builders for Stripe-shaped objects (plain dicts) and their ids."""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from typing import Any

API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits


def now() -> int:
    """Return the current Unix time in whole seconds, as Stripe's ``created``."""
    return int(time.time())


def new_id(prefix: str, length: int = 24) -> str:
    """Return a random Stripe-looking id such as ``pi_3Px…``."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def stable_id(prefix: str, seed: str) -> str:
    """Return an id derived from ``seed`` so seeded objects keep their ids across restarts."""
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:24])


def list_object(data: list[dict[str, Any]], url: str, has_more: bool = False) -> dict[str, Any]:
    """Wrap objects in Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def product(name: str, metadata: dict[str, str], product_id: str | None = None) -> dict[str, Any]:
    """Return a Product."""
    created = now()
    return {
        "id": product_id or new_id("prod_", 14),
        "object": "product",
        "active": True,
        "created": created,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": dict(metadata),
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(
    product_id: str,
    unit_amount: int,
    currency: str,
    *,
    lookup_key: str | None = None,
    metadata: dict[str, str] | None = None,
    nickname: str | None = None,
    active: bool = True,
    price_id: str | None = None,
) -> dict[str, Any]:
    """Return a one-time Price."""
    return {
        "id": price_id or new_id("price_"),
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": dict(metadata or {}),
        "nickname": nickname,
        "product": product_id,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def line_item(price_obj: dict[str, Any], product_name: str, quantity: int) -> dict[str, Any]:
    """Return a Checkout line item (``object: "item"``) embedding its Price."""
    amount = price_obj["unit_amount"] * quantity
    return {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price_obj["currency"],
        "description": product_name,
        "price": dict(price_obj),
        "quantity": quantity,
    }


def checkout_session(params: dict[str, Any], items: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """Return an open, unpaid payment-mode Checkout Session (``url`` gets the id appended)."""
    session_id = new_id("cs_test_a1", 56)
    subtotal = sum(item["amount_subtotal"] for item in items)
    created = now()
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes") == "true" or None,
        "amount_subtotal": subtotal,
        "amount_total": subtotal,
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "created": created,
        "currency": items[0]["currency"],
        "customer": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": int(params.get("expires_at") or created + 24 * 3600),
        "invoice": None,
        "livemode": False,
        "locale": params.get("locale"),
        "metadata": dict(params.get("metadata") or {}),
        "mode": "payment",
        "payment_intent": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "status": "open",
        "submit_type": params.get("submit_type"),
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"{url}/{session_id}",
    }


def payment_intent(
    amount: int, currency: str, metadata: dict[str, str], status: str, description: str | None
) -> dict[str, Any]:
    """Return a PaymentIntent."""
    return {
        "id": new_id("pi_"),
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if status == "succeeded" else 0,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": None,
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": None,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": dict(metadata),
        "payment_method": new_id("pm_"),
        "payment_method_types": ["card"],
        "receipt_email": None,
        "status": status,
    }


def charge(intent: dict[str, Any], email: str | None) -> dict[str, Any]:
    """Return a succeeded Charge for ``intent`` (its metadata copied, nothing refunded)."""
    charge_id = new_id("ch_")
    return {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"],
        "amount_refunded": 0,
        "balance_transaction": new_id("txn_"),
        "billing_details": {"address": None, "email": email, "name": None, "phone": None},
        "captured": True,
        "created": now(),
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "outcome": {"network_status": "approved_by_network", "type": "authorized"},
        "paid": True,
        "payment_intent": intent["id"],
        "payment_method": intent["payment_method"],
        "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242"}},
        "receipt_email": email,
        "refunded": False,
        "refunds": list_object([], f"/v1/charges/{charge_id}/refunds"),
        "status": "succeeded",
    }


def refund(
    charge_obj: dict[str, Any], amount: int, reason: str | None, metadata: dict[str, str]
) -> dict[str, Any]:
    """Return a succeeded Refund of ``amount`` against ``charge_obj``."""
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge_obj["id"],
        "created": now(),
        "currency": charge_obj["currency"],
        "metadata": dict(metadata),
        "payment_intent": charge_obj["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "status": "succeeded",
    }


def dispute(charge_obj: dict[str, Any], amount: int, reason: str) -> dict[str, Any]:
    """Return a Dispute on ``charge_obj`` awaiting a response."""
    return {
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_obj["id"],
        "created": now(),
        "currency": charge_obj["currency"],
        "evidence_details": {"due_by": now() + 7 * 24 * 3600, "has_evidence": False},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge_obj["payment_intent"],
        "reason": reason,
        "status": "needs_response",
    }


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    request: dict[str, Any] | None,
    pending_webhooks: int,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return an Event whose ``data.object`` is a snapshot of ``obj``."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes:
        data["previous_attributes"] = previous_attributes
    return {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": request or {"id": None, "idempotency_key": None},
        "type": event_type,
    }
