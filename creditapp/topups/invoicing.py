"""Automatic top-ups charged through a Stripe Invoice (`STRIPE_INVOICES`, DESIGN §21).

With invoices on, a top-up is not a bare PaymentIntent: the worker creates a draft Invoice for
the person's Customer (our metadata on it), adds the pack as its one invoice item, finalizes it
(its number, tax with `STRIPE_AUTOMATIC_TAX`, hosted page and PDF, kept on the purchase) and
pays it off-session with the saved card. Every request carries an idempotency key derived from
the purchase, so a repeated message or a sweep re-run gets Stripe's first answers again and
never a second invoice or charge. The invoice's id is kept as soon as Stripe answers, before
anything is paid: a top-up whose answers were lost is settled from that invoice (`recover`).

The invoice's PaymentIntent carries none of our metadata; the purchase records it once the
invoice is paid, by whichever of the worker and the `invoice.paid` webhook comes first
(`settle_paid_invoice`), and `ledger.complete_purchase` credits it once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import stripe
from flask import current_app

from creditapp.billing import invoices
from creditapp.ledger.topups import ChargeTurn
from creditapp.models import AutoRechargeSettings, CreditPurchase
from creditapp.platform import stripe_client
from creditapp.platform.transactions import write
from creditapp.topups import declines

purchases = CreditPurchase.__table__
settings = AutoRechargeSettings.__table__
Settle = Callable[[int, dict[str, Any]], str]


def charge(purchase_id: int, turn: ChargeTurn, settle: Settle) -> str:
    """Invoice the top-up and pay the invoice off-session; returns what happened (as `charging.charge`)."""
    client = stripe_client.client()
    metadata = {"purchase_id": str(purchase_id), "user_id": str(turn.user_id), "source": "auto_recharge"}
    stamp = f"{purchase_id}-{turn.created_at.timestamp():.6f}"
    taxed = {"automatic_tax": {"enabled": True}} if current_app.config["STRIPE_AUTOMATIC_TAX"] else {}
    try:
        draft = client.v1.invoices.create(
            params={
                "customer": turn.customer_id,
                "currency": turn.currency,
                "collection_method": "charge_automatically",
                "auto_advance": False,  # paid by us, now; Stripe never retries it on its own
                "description": f"Automatic top-up: {turn.credits} credits",
                "metadata": metadata,
                **taxed,
            },
            options={"idempotency_key": f"auto-recharge-invoice-{stamp}"},
        )
        keep(purchase_id, invoices.InvoiceFields(invoice_id=draft.id))
        client.v1.invoice_items.create(
            params={
                "customer": turn.customer_id,
                "invoice": draft.id,
                "amount": turn.amount,
                "currency": turn.currency,
                "description": f"{turn.credits} credits (automatic top-up)",
                "metadata": metadata,
            },
            options={"idempotency_key": f"auto-recharge-item-{stamp}"},
        )
        finalized = client.v1.invoices.finalize_invoice(
            draft.id,
            params={"auto_advance": False},
            options={"idempotency_key": f"auto-recharge-finalize-{stamp}"},
        )
        keep(purchase_id, invoices.from_invoice(finalized.to_dict()), turn.payment_method_id)
        paid = client.v1.invoices.pay(
            draft.id,
            params={"off_session": True, "payment_method": turn.payment_method_id},
            options={"idempotency_key": f"auto-recharge-pay-{stamp}"},
        )
        return settle_paid_invoice(purchase_id, paid.to_dict(), settle)
    except stripe.StripeError as exc:
        return declines.answer(purchase_id, exc)


def settle_paid_invoice(purchase_id: int, invoice: dict[str, Any], settle: Settle) -> str:
    """Apply a top-up invoice's state: a paid one settles the top-up with the PaymentIntent that
    paid it (read from Stripe); one not paid yet changes nothing. Raises `stripe.StripeError`."""
    keep(purchase_id, invoices.from_invoice(invoice))
    intent = invoices.paid_by(invoice)
    if intent is None:
        return str(invoice.get("status") or "unknown")
    return settle(purchase_id, intent)


def keep(purchase_id: int, fields: invoices.InvoiceFields, method_id: str | None = None) -> None:
    """Fill the top-up's invoice columns still empty, in a transaction of its own; with
    `method_id`, the saved card about to pay it too (its summary, for the receipt page)."""
    with write() as session:
        invoices.keep(purchase_id, fields)
        if method_id:
            saved = sa.select(settings.c.payment_method).where(
                settings.c.payment_method_id == method_id, settings.c.user_id == purchases.c.user_id
            )
            session.execute(
                sa.update(purchases)
                .where(purchases.c.id == purchase_id, purchases.c.payment_method.is_(None))
                .values(payment_method=saved.scalar_subquery())
            )
