"""The receipt e-mail of a Checkout purchase, written to the outbox once per purchase.

Automatic top-ups have theirs written by the ledger as they are credited
(`ledger.topups.after_topup_completed`); a Checkout purchase's waits until its payment and
invoice are recorded (`purchase_payments`), so that it can name the invoice and link it.
"""

from __future__ import annotations

import sqlalchemy as sa

from creditapp.billing.payment_methods import MethodSummary
from creditapp.ledger.outbox import Outbox, write_email
from creditapp.models import CreditPurchase, Organization, User
from creditapp.platform.transactions import stage

purchases = CreditPurchase.__table__
users = User.__table__
organizations = Organization.__table__
KIND = "purchase_receipt"


def write(session: sa.orm.Session, purchase_id: int) -> int | None:
    """Inside the transaction that records the purchase's payment: its receipt e-mail, once.

    Returns the outbox row, or None when this purchase has its e-mail already (the dedupe key).
    """
    row = session.execute(
        sa.select(
            purchases.c.user_id,
            users.c.email,
            purchases.c.credits_purchased,
            purchases.c.amount_paid,
            purchases.c.amount_subtotal,
            purchases.c.amount_tax,
            purchases.c.currency,
            purchases.c.payment_method,
            purchases.c.invoice_number,
            purchases.c.invoice_url,
            purchases.c.invoice_pdf_url,
            purchases.c.receipt_url,
            organizations.c.id.label("org_id"),
            organizations.c.name.label("organization"),
        )
        .join(users, users.c.id == purchases.c.user_id)
        .outerjoin(organizations, organizations.c.wallet_id == purchases.c.wallet_id)
        .where(purchases.c.id == purchase_id)
    ).one()
    method = MethodSummary.from_json(row.payment_method)
    payload = {
        "purchase_id": purchase_id,
        "credits": row.credits_purchased,
        "amount": row.amount_paid,
        "subtotal": row.amount_subtotal,
        "tax": row.amount_tax,
        "currency": row.currency,
        "method": method.label if method else None,
        "invoice_number": row.invoice_number,
        "invoice_url": row.invoice_url,
        "invoice_pdf": row.invoice_pdf_url,
        "receipt_url": row.receipt_url,
    }
    if row.org_id is not None:  # bought for an organization (teams): its wallet, its pages
        payload |= {"org_id": row.org_id, "organization": row.organization}
    email = write_email(session, KIND, row.user_id, row.email, f"purchase-receipt:{purchase_id}", payload)
    if email is not None:
        stage(session, Outbox(emails=[email]).handoffs())
    return email
