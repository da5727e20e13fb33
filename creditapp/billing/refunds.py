"""Refunding a purchase through Stripe (the staff console's refund).

Only the Refund is created here; the credits come back out the way they do for any refund:
Stripe sends the refund's events, the webhook reads the charge again and the ledger moves
the purchase's clawback (`billing.clawbacks`). No database transaction is open while Stripe
is asked, and the request carries an idempotency key from the caller, so a retry of one
request never refunds twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from creditapp.models import CreditPurchase
from creditapp.platform import stripe_client
from creditapp.platform.transactions import read


class NotRefundable(ValueError):
    """The purchase cannot be refunded as asked (not paid through Stripe, or not that much left)."""


@dataclass(frozen=True)
class Refundable:
    """What is left to refund of a purchase, in minor units of its currency."""

    purchase_id: int
    payment_intent_id: str
    left: int
    currency: str


def refundable(purchase_id: int, user_id: int) -> Refundable | None:
    """What the user's purchase may still have refunded; None when it is not theirs."""
    with read() as session:
        row = session.execute(
            sa.select(
                CreditPurchase.status,
                CreditPurchase.stripe_payment_intent_id,
                CreditPurchase.amount_paid,
                CreditPurchase.amount_refunded,
                CreditPurchase.currency,
            ).where(CreditPurchase.id == purchase_id, CreditPurchase.user_id == user_id)
        ).one_or_none()
    if row is None:
        return None
    if row.status != "completed" or not row.stripe_payment_intent_id:
        raise NotRefundable(f"purchase {purchase_id} is {row.status} and has no payment to refund")
    return Refundable(
        purchase_id, row.stripe_payment_intent_id, row.amount_paid - row.amount_refunded, row.currency
    )


def refund(found: Refundable, amount: int, idempotency_key: str, note: str) -> str:
    """Ask Stripe to refund `amount` of the purchase's payment; returns the Refund's id."""
    if not 0 < amount <= found.left:
        raise NotRefundable(f"between 1 and {found.left} can be refunded")
    created = stripe_client.client().v1.refunds.create(
        params={
            "payment_intent": found.payment_intent_id,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": {"purchase_id": str(found.purchase_id), "note": note[:500]},
        },
        options={"idempotency_key": idempotency_key},
    )
    return created.id
