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
DISPUTE_FEE = 1500  # what Stripe charges a US account for a chargeback, in cents
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
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": subtotal,
        "amount_total": subtotal,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
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
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
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
        "tax_id_collection": {"enabled": False},
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
        "amount_details": {"tip": {}},
        "amount_received": amount if status == "succeeded" else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": None,
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": None,
        "description": description,
        "invoice": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": dict(metadata),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": new_id("pm_"),
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def card_details(created: int) -> dict[str, Any]:
    """Return ``payment_method_details`` for a Visa test card that expires in a few years."""
    year = time.gmtime(created).tm_year
    return {
        "type": "card",
        "card": {
            "amount_authorized": None,
            "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "exp_month": 12,
            "exp_year": year + 3,
            "extended_authorization": {"status": "disabled"},
            "fingerprint": "emulatorVisa4242",
            "funding": "credit",
            "incremental_authorization": {"status": "unavailable"},
            "installments": None,
            "last4": "4242",
            "mandate": None,
            "multicapture": {"status": "unavailable"},
            "network": "visa",
            "network_token": {"used": False},
            "overcapture": {"maximum_amount_capturable": 0, "status": "unavailable"},
            "three_d_secure": None,
            "wallet": None,
        },
    }


def charge(intent: dict[str, Any], email: str | None, receipt_base: str) -> dict[str, Any]:
    """Return a succeeded Charge for ``intent`` (its metadata copied, nothing refunded).

    Since API version 2022-11-15 a Charge no longer embeds its ``refunds`` list.
    """
    charge_id = new_id("ch_")
    created = now()
    return {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"],
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_"),
        "billing_details": {"address": None, "email": email, "name": None, "phone": None},
        "calculated_statement_descriptor": "CREDITAPP",
        "captured": True,
        "created": created,
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": intent["id"],
        "payment_method": intent["payment_method"],
        "payment_method_details": card_details(created),
        "receipt_email": email,
        "receipt_number": None,
        "receipt_url": f"{receipt_base}/{charge_id}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(
    charge_obj: dict[str, Any], amount: int, reason: str | None, metadata: dict[str, str], status: str
) -> dict[str, Any]:
    """Return a Refund of ``amount`` against ``charge_obj`` in ``status`` (pending/succeeded)."""
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge_obj["id"],
        "created": now(),
        "currency": charge_obj["currency"],
        "destination_details": {
            "type": "card",
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
        },
        # failure_reason and failure_balance_transaction appear once the refund fails.
        "metadata": dict(metadata),
        "payment_intent": charge_obj["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def balance_transaction(
    amount: int, currency: str, source: str, *, fee: int, kind: str, category: str, description: str
) -> dict[str, Any]:
    """Return a BalanceTransaction (``kind`` is Stripe's ``type``) moving ``amount`` cents."""
    created = now()
    fee_details = (
        [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Dispute fee",
                "type": "stripe_fee",
            }
        ]
        if fee
        else []
    )
    return {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * DAY,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": "pending",
        "type": kind,
    }


def dispute(charge_obj: dict[str, Any], amount: int, reason: str, status: str) -> dict[str, Any]:
    """Return a Dispute on ``charge_obj``: a chargeback (``needs_response``) or an inquiry."""
    created = now()
    return {
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_obj["id"],
        "created": created,
        "currency": charge_obj["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {name: None for name in EVIDENCE_FIELDS},
        "evidence_details": {
            "due_by": created + 7 * DAY,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": status.startswith("warning_"),
        "livemode": False,
        "metadata": {},
        "payment_intent": charge_obj["payment_intent"],
        "payment_method_details": {"type": "card", "card": {"brand": "visa", "network_reason_code": "10.4"}},
        "reason": reason,
        "status": status,
    }


EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
    "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
    "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation",
    "duplicate_charge_explanation", "duplicate_charge_id", "product_description", "receipt",
    "refund_policy", "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
    "service_documentation", "shipping_address", "shipping_carrier", "shipping_date",
    "shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text",
)  # fmt: skip


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
