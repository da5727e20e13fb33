"""Invoices and tax for purchases (DESIGN §21): what Checkout is asked for, and what a purchase
keeps of its Stripe Invoice.

Checkout creates an Invoice for every purchase (`invoice_creation`, `STRIPE_INVOICES`) and,
with `STRIPE_AUTOMATIC_TAX=1`, has Stripe Tax compute the tax from the billing address and
VAT number the buyer gives. The credits are the pack's whatever the tax: only the money
columns change. A purchase learns its invoice from whichever comes first of the webhook, the
success page (both through `purchase_payments.record`) and the `invoice.finalized` /
`invoice.paid` events; each fills only what is still empty, so the order never matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditPurchase
from creditapp.platform import stripe_client

purchases = CreditPurchase.__table__


def checkout_params(
    config: Mapping[str, Any], metadata: dict[str, str], customer: str | None
) -> dict[str, Any]:
    """The Checkout Session parameters for invoices and tax, as the settings ask.

    `customer_update` keeps the name and address given at Checkout on the Customer (Stripe
    takes it only with a `customer`); the invoice carries our metadata, so its events find
    the purchase.
    """
    params: dict[str, Any] = {}
    if config.get("STRIPE_INVOICES", True):
        params["invoice_creation"] = {"enabled": True, "invoice_data": {"metadata": metadata}}
    if config.get("STRIPE_AUTOMATIC_TAX", False):
        params["automatic_tax"] = {"enabled": True}
        params["billing_address_collection"] = "required"
        params["tax_id_collection"] = {"enabled": True}
        if customer is not None:
            params["customer_update"] = {"name": "auto", "address": "auto"}
    return params


@dataclass(frozen=True)
class InvoiceFields:
    """What a purchase keeps of its amounts and invoice; None: not known from this object."""

    subtotal: int | None = None
    tax: int | None = None
    invoice_id: str | None = None
    number: str | None = None
    hosted_url: str | None = None
    pdf_url: str | None = None
    issued_at: datetime | None = None

    def columns(self) -> dict[str, Any]:
        """The purchase's columns these fields fill (only the known ones)."""
        found = {
            "amount_subtotal": self.subtotal,
            "amount_tax": self.tax,
            "stripe_invoice_id": self.invoice_id,
            "invoice_number": self.number,
            "invoice_url": self.hosted_url,
            "invoice_pdf_url": self.pdf_url,
            "invoiced_at": self.issued_at,
        }
        return {name: value for name, value in found.items() if value is not None}

    def with_invoice(self, invoice: InvoiceFields) -> InvoiceFields:
        """These amounts (what the session charged; else the invoice's) with the invoice's own fields."""
        return InvoiceFields(
            self.subtotal if self.subtotal is not None else invoice.subtotal,
            self.tax if self.tax is not None else invoice.tax,
            invoice.invoice_id,
            invoice.number,
            invoice.hosted_url,
            invoice.pdf_url,
            invoice.issued_at,
        )


def from_invoice(invoice: Mapping[str, Any]) -> InvoiceFields:
    """The fields of a Stripe Invoice object (its links only once it is finalized)."""
    transitions = invoice.get("status_transitions") or {}
    issued = transitions.get("finalized_at") or invoice.get("effective_at") or invoice.get("created")
    # Before tax and after any discount (Stripe's `subtotal` is before the discount, and includes
    # the tax of a tax-inclusive price), so that subtotal + tax is the total charged.
    excluding_tax = invoice.get("total_excluding_tax")
    return InvoiceFields(
        subtotal=_int(excluding_tax if excluding_tax is not None else invoice.get("subtotal")),
        tax=_invoice_tax(invoice),
        invoice_id=invoice.get("id"),
        number=invoice.get("number") or None,
        hosted_url=invoice.get("hosted_invoice_url") or None,
        pdf_url=invoice.get("invoice_pdf") or None,
        issued_at=datetime.fromtimestamp(int(issued), UTC) if issued else None,
    )


def from_session(session: Mapping[str, Any]) -> InvoiceFields:
    """The amounts a paid Checkout Session states, and its invoice when expanded (else its id)."""
    tax = _int((session.get("total_details") or {}).get("amount_tax"))
    total = _int(session.get("amount_total"))
    # What was charged before tax: the session's `amount_subtotal` is before any discount (and
    # includes the tax of a tax-inclusive price), so subtotal + tax is kept equal to the total.
    subtotal = total - tax if total is not None and tax is not None else _int(session.get("amount_subtotal"))
    fields = InvoiceFields(subtotal=subtotal, tax=tax)
    invoice = session.get("invoice")
    if isinstance(invoice, Mapping):
        return fields.with_invoice(from_invoice(invoice))
    if isinstance(invoice, str) and invoice:
        return InvoiceFields(fields.subtotal, fields.tax, invoice_id=invoice)
    return fields


def read_invoice(invoice_id: str) -> dict[str, Any]:
    """The Invoice from Stripe; raises `stripe.StripeError`."""
    return stripe_client.client().v1.invoices.retrieve(invoice_id).to_dict()


def complete_fields(session: Mapping[str, Any]) -> InvoiceFields:
    """The session's fields, with its invoice read from Stripe when only its id is given.

    Raises `stripe.StripeError` (the caller tries again later, as for the payment's read).
    """
    fields = from_session(session)
    if fields.invoice_id and fields.number is None:
        return fields.with_invoice(from_invoice(read_invoice(fields.invoice_id)))
    return fields


def keep(purchase_id: int, fields: InvoiceFields) -> None:
    """In the caller's transaction: fill the purchase's invoice columns still empty.

    A column already set stays (the first answer wins; Stripe's later ones repeat it), and an
    invoice id is never replaced by another.
    """
    values = {name: sa.func.coalesce(purchases.c[name], value) for name, value in fields.columns().items()}
    if not values:
        return
    condition = [purchases.c.id == purchase_id]
    if fields.invoice_id:
        invoice = purchases.c.stripe_invoice_id
        condition.append(sa.or_(invoice.is_(None), invoice == fields.invoice_id))
    db.session.execute(sa.update(purchases).where(*condition).values(**values))


def purchase_for_invoice(invoice: Mapping[str, Any]) -> int | None:
    """In the caller's transaction: the purchase an Invoice is for (by its id, else our metadata)."""
    found = db.session.execute(
        sa.select(purchases.c.id).where(purchases.c.stripe_invoice_id == invoice.get("id"))
    ).scalar_one_or_none()
    if found is not None:
        return found
    metadata = invoice.get("metadata") or {}
    try:
        purchase_id, user_id = int(metadata["purchase_id"]), int(metadata["user_id"])
    except (KeyError, TypeError, ValueError):
        return None
    return db.session.execute(
        sa.select(purchases.c.id).where(purchases.c.id == purchase_id, purchases.c.user_id == user_id)
    ).scalar_one_or_none()


def paying_intent(invoice: Mapping[str, Any]) -> str | None:
    """The id of the PaymentIntent that paid an invoice: from its `payments` (API 2025-03-31 on,
    when expanded), else the older `payment_intent` field; None when neither says."""
    payments = invoice.get("payments")
    listed = payments.get("data") if isinstance(payments, Mapping) else None
    for payment in listed or []:
        found = (payment.get("payment") or {}).get("payment_intent")
        if payment.get("status") == "paid" and found:
            return found.get("id") if isinstance(found, Mapping) else found
    intent = invoice.get("payment_intent")
    return intent.get("id") if isinstance(intent, Mapping) else intent


def paid_by(invoice: Mapping[str, Any]) -> dict[str, Any] | None:
    """The PaymentIntent that paid an invoice, read from Stripe (its payments too, when the
    invoice given does not include them); None for an invoice not paid. Raises `stripe.StripeError`."""
    if invoice.get("status") != "paid":
        return None
    client = stripe_client.client()
    intent_id = paying_intent(invoice)
    if intent_id is None:
        expanded = client.v1.invoices.retrieve(str(invoice["id"]), params={"expand": ["payments"]})
        intent_id = paying_intent(expanded.to_dict())
    if intent_id is None:
        return None
    return client.v1.payment_intents.retrieve(intent_id).to_dict()


def _invoice_tax(invoice: Mapping[str, Any]) -> int | None:
    """The invoice's tax: `tax` (API 2024-04-10), else the sum of its tax amounts (later versions)."""
    if invoice.get("tax") is not None:
        return int(invoice["tax"])
    amounts = invoice.get("total_taxes") or invoice.get("total_tax_amounts")
    if isinstance(amounts, list):
        return sum(int(item.get("amount") or 0) for item in amounts)
    return None


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
