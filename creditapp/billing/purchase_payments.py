"""What paid for a purchase, read back from Stripe once after crediting, and the method saved from it.

After a Checkout purchase is credited, its PaymentIntent is read (the charge's receipt URL and
the payment method) and stored on the purchase with its invoice and tax (`invoices`), so its
receipt pages never call Stripe again; the receipt e-mail is written in the same transaction.
When the person asked to save the method for automatic top-ups, it is saved from the same
read. Until that read has succeeded it runs again on every delivery of the paying event (and
on the success page): a Stripe failure raises, the webhook answers 503 and Stripe delivers
again, so a card the person asked to save is never dropped. Crediting is idempotent, so the
redelivery credits nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from creditapp.billing import invoices, off_session, receipt_emails
from creditapp.billing.payment_methods import MethodSummary
from creditapp.models import CreditPurchase, utcnow
from creditapp.platform import stripe_client
from creditapp.platform.transactions import read, write

log = logging.getLogger("creditapp.billing")

purchases = CreditPurchase.__table__
# What the read needs expanded on a PaymentIntent (the success page asks for it on the session).
EXPAND = ["latest_charge", "payment_method"]


def record(purchase_id: int, session: dict[str, Any]) -> bool:
    """Store the receipt and payment method of a credited purchase, saving the method if asked.

    True when this call recorded it. A purchase not completed, or already recorded, costs one
    statement and no Stripe call. Raises `stripe.StripeError` when Stripe fails: the caller
    answers so that it is tried again (the webhook: 503).
    """
    with read() as db_session:  # ended before Stripe is asked
        row = db_session.execute(
            sa.select(
                purchases.c.user_id,
                purchases.c.wallet_id,
                purchases.c.status,
                purchases.c.payment_recorded_at,
            ).where(purchases.c.id == purchase_id)
        ).one()
    if row.status != "completed" or row.payment_recorded_at is not None:
        return False
    fields = invoices.complete_fields(session)
    intent = session.get("payment_intent")
    if not intent:  # a 100%-discount session: nothing was charged, so there is nothing to read
        return _store(purchase_id, None, None, fields)
    if not (isinstance(intent, dict) and isinstance(intent.get("payment_method"), dict)):
        intent_id = intent.get("id") if isinstance(intent, dict) else intent
        intent = _read_intent(intent_id)
    method = intent.get("payment_method")
    summary = MethodSummary.from_stripe(method) if isinstance(method, dict) else None
    charge = intent.get("latest_charge")
    receipt_url = charge.get("receipt_url") if isinstance(charge, dict) else None
    if summary is not None and _wants_saving(session, method):
        # Saved before the purchase is marked recorded: a crash between the two saves it again.
        off_session.current().keep_payment_method(row.wallet_id, row.user_id, method["id"], summary)
    return _store(purchase_id, receipt_url, summary, fields)


def _read_intent(intent_id: str) -> dict[str, Any]:
    return stripe_client.client().v1.payment_intents.retrieve(intent_id, params={"expand": EXPAND}).to_dict()


def _wants_saving(session: dict[str, Any], method: dict[str, Any]) -> bool:
    """The person ticked "save" and Stripe attached the method to their Customer."""
    asked = (session.get("metadata") or {}).get("save_card") == "1"
    return asked and bool(session.get("customer")) and method.get("customer") == session["customer"]


def _store(
    purchase_id: int, receipt_url: str | None, summary: MethodSummary | None, fields: invoices.InvoiceFields
) -> bool:
    """One transaction: the payment and invoice recorded, and the receipt e-mail written with
    them, so it goes out once per purchase, whoever (webhook or success page) records first."""
    with write() as db_session:
        recorded = db_session.execute(
            sa.update(purchases)
            .where(purchases.c.id == purchase_id, purchases.c.payment_recorded_at.is_(None))
            .values(
                receipt_url=receipt_url,
                payment_method=summary.to_json() if summary else None,
                payment_recorded_at=utcnow(),
            )
        ).rowcount
        if recorded:
            invoices.keep(purchase_id, fields)
            receipt_emails.write(db_session, purchase_id)
    return bool(recorded)


def read_receipt(purchase_id: int, intent_id: str) -> str | None:
    """Read a completed purchase's receipt URL from Stripe and keep it; raises `stripe.StripeError`.

    For a purchase whose read has not run (one from before receipts were stored, a top-up). It
    stores only the receipt and the method: saving a method stays with `record`.
    """
    intent = _read_intent(intent_id)
    charge = intent.get("latest_charge")
    receipt_url = charge.get("receipt_url") if isinstance(charge, dict) else None
    method = intent.get("payment_method")
    summary = MethodSummary.from_stripe(method) if isinstance(method, dict) else None
    if receipt_url:
        with write() as db_session:
            db_session.execute(
                sa.update(purchases)
                .where(purchases.c.id == purchase_id, purchases.c.receipt_url.is_(None))
                .values(receipt_url=receipt_url, payment_method=summary.to_json() if summary else None)
            )
    return receipt_url
