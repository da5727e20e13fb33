"""Builders for Invoices, their lines and invoice items, as API 2026-10-28 shapes them.

Like ``objects``, each fills every field Stripe requires. Since API 2025-03-31 an Invoice
names its payments in ``payments`` (included when expanded) rather than ``charge`` and
``payment_intent``, its taxes in ``total_taxes`` rather than ``total_tax_amounts``, and it
has no ``paid`` flag (``status`` says ``paid``); the stand-in serves that newer shape.
"""

from __future__ import annotations

from typing import Any

from .objects import list_object, new_id, now
from .tax import SELLER

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def address(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Stripe's Address: all six fields, absent ones null; None when nothing was given."""
    if not values:
        return None
    return {name: values.get(name) or None for name in ADDRESS_FIELDS}


def invoice_item(
    customer: str,
    amount: int,
    currency: str,
    quantity: int,
    *,
    description: str | None,
    metadata: dict[str, str],
    price: dict[str, Any] | None,
    invoice_id: str | None,
) -> dict[str, Any]:
    """Return an InvoiceItem (pending until an invoice takes it, or on ``invoice_id``)."""
    created = now()
    return {
        "id": new_id("ii_"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer,
        "date": created,
        "description": description,
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(metadata),
        "net_amount": amount,
        "parent": None,
        "period": {"end": created, "start": created},
        "pricing": _pricing(price, amount, quantity),
        "proration": False,
        "proration_details": {"discount_amounts": []},
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
    }


def _pricing(price: dict[str, Any] | None, amount: int, quantity: int) -> dict[str, Any] | None:
    if price is None:
        return None
    unit = price["unit_amount"] if price.get("unit_amount") is not None else amount // max(quantity, 1)
    return {
        "price_details": {"price": price["id"], "product": price["product"]},
        "type": "price_details",
        "unit_amount_decimal": str(unit),
    }


def line_from_item(item: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    """Return the invoice line (``object: "line_item"``) for an invoice item."""
    return {
        "id": new_id("il_"),
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": item["pricing"],
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
    }


def invoice(
    customer: dict[str, Any],
    currency: str,
    *,
    automatic_tax: bool,
    auto_advance: bool,
    billing_reason: str = "manual",
    description: str | None = None,
    footer: str | None = None,
    metadata: dict[str, str] | None = None,
    default_payment_method: str | None = None,
) -> dict[str, Any]:
    """Return a draft Invoice for ``customer`` (no lines yet, no number until finalized)."""
    invoice_id = new_id("in_")
    created = now()
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": SELLER["address"]["country"],
        "account_name": SELLER["name"],
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "enabled": automatic_tax,
            "liability": {"type": "self"} if automatic_tax else None,
            "status": "requires_location_inputs" if automatic_tax else None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_address": address(customer.get("address")),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": customer.get("tax_exempt") or "none",
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": footer,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object([], f"/v1/invoices/{invoice_id}/lines"),
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": created,
        "period_start": created,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_details": None,
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def invoice_payment(invoice_obj: dict[str, Any], intent: dict[str, Any]) -> dict[str, Any]:
    """Return the InvoicePayment linking a paid invoice to the PaymentIntent that paid it."""
    paid_at = invoice_obj["status_transitions"]["paid_at"]
    return {
        "id": new_id("inpay_"),
        "object": "invoice_payment",
        "amount_paid": invoice_obj["amount_paid"],
        "amount_requested": invoice_obj["amount_due"],
        "created": now(),
        "currency": invoice_obj["currency"],
        "invoice": invoice_obj["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": intent["id"], "type": "payment_intent"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": paid_at},
    }
