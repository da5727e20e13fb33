"""Builders for Stripe-shaped objects (plain dicts) and their ids.

Each builder fills every field Stripe's schema requires for the object, with the values
a test-mode account in the US would see; optional fields the stand-in never sets are
``null`` as Stripe sends them.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from typing import Any

API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits
DAY = 24 * 3600


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
    taxed = bool((params.get("automatic_tax") or {}).get("enabled"))
    invoicing = params.get("invoice_creation") or {}
    invoice_data = invoicing.get("invoice_data") or {}
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": subtotal,
        "amount_total": subtotal,
        "automatic_tax": {
            "enabled": taxed,
            "liability": {"type": "self"} if taxed else None,
            "status": "requires_location_inputs" if taxed else None,
        },
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": items[0]["currency"],
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_creation": params.get("customer_creation") or "if_required",
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": params.get("expires_at") or created + DAY,
        "invoice": None,
        "invoice_creation": {
            "enabled": bool(invoicing.get("enabled")),
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": invoice_data.get("description"),
                "footer": invoice_data.get("footer"),
                "issuer": None,
                "metadata": dict(invoice_data.get("metadata") or {}),
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": params.get("locale"),
        "metadata": dict(params.get("metadata") or {}),
        "mode": "payment",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_details": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": params.get("submit_type"),
        "subscription": None,
        "success_url": params.get("success_url"),
        "tax_id_collection": {"enabled": bool((params.get("tax_id_collection") or {}).get("enabled"))},
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"{url}/{session_id}",
    }


def webhook_endpoint(
    url: str,
    enabled_events: list[str],
    *,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    api_version: str | None = None,
    endpoint_id: str | None = None,
) -> dict[str, Any]:
    """Return an enabled WebhookEndpoint (its secret is kept by the store, not here)."""
    return {
        "id": endpoint_id or new_id("we_"),
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": now(),
        "description": description,
        "enabled_events": list(enabled_events),
        "livemode": False,
        "metadata": dict(metadata or {}),
        "status": "enabled",
        "url": url,
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
