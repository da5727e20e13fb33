"""Builders for the objects money moves through: PaymentIntents, Charges, Refunds, Disputes.

Like ``objects``, each fills every field Stripe's schema requires, as a US test-mode
account sees it.
"""

from __future__ import annotations

import time
from typing import Any

from .objects import DAY, new_id, now

DISPUTE_FEE = 1500  # what Stripe charges a US account for a chargeback, in cents


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
