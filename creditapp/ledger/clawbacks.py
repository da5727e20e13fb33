"""Credits going back: refund and dispute clawbacks, convergent under replays and reordering."""

from __future__ import annotations

import math

import sqlalchemy as sa

from creditapp.ledger._core import (
    UnknownPurchase,
    add_to_balance,
    adjustments,
    log_write,
    transaction,
)
from creditapp.models import CreditAdjustment, CreditPurchase, utcnow


def _locked_purchase(session: sa.orm.Session, purchase_id: int) -> CreditPurchase:
    """Lock the purchase row: every clawback on one purchase runs one at a time."""
    purchase = session.execute(
        sa.select(CreditPurchase)
        .where(CreditPurchase.id == purchase_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if purchase is None:
        raise UnknownPurchase(f"no purchase {purchase_id}")
    return purchase


def _credits_for(purchase: CreditPurchase, amount: int) -> int:
    """Credits matching `amount` of the payment, rounded up, capped at the purchase."""
    if purchase.amount_paid <= 0:
        return 0
    share = math.ceil(purchase.credits_purchased * amount / purchase.amount_paid)
    return min(purchase.credits_purchased, share)


def _claw_back(
    session: sa.orm.Session, purchase: CreditPurchase, credits: int, reason: str, obj: str | None
) -> int:
    """Take up to `credits` back (never more than the purchase has left); returns taken."""
    taken = max(0, min(credits, purchase.credits_purchased - purchase.credits_clawed_back))
    if taken == 0 and reason == "refund":
        return 0
    session.execute(
        sa.insert(adjustments).values(
            user_id=purchase.user_id,
            amount=-taken,
            reason=reason,
            purchase_id=purchase.id,
            stripe_object_id=obj,
            note="",
            created_at=utcnow(),
        )
    )
    purchase.credits_clawed_back += taken
    if taken:
        balance = add_to_balance(session, purchase.user_id, -taken)
        log_write(purchase.user_id, reason, -taken, balance)
    return taken


def apply_refund_clawback(session: sa.orm.Session, purchase_id: int, stripe_object_id: str | None) -> int:
    purchase = _locked_purchase(session, purchase_id)
    if purchase.status != "completed":
        return 0
    target = _credits_for(purchase, purchase.amount_refunded)
    missing = target - purchase.credits_refunded
    if missing <= 0:
        return 0
    taken = _claw_back(session, purchase, missing, "refund", stripe_object_id)
    purchase.credits_refunded += taken
    session.flush()
    return taken


def claw_back_refund(purchase_id: int, amount_refunded: int, stripe_object_id: str | None = None) -> int:
    """Apply Stripe's cumulative `amount_refunded`; returns the credits taken now.

    The target is ceil(credits × refunded / paid); only the difference from what was
    already taken is applied, so replays and out-of-order events converge. A refund for
    a purchase that is not completed yet is remembered and applied on completion.
    """
    with transaction() as session:
        purchase = _locked_purchase(session, purchase_id)
        if amount_refunded > purchase.amount_refunded:
            purchase.amount_refunded = amount_refunded
            session.flush()
        taken = apply_refund_clawback(session, purchase_id, stripe_object_id)
    return taken


def _dispute_row(session: sa.orm.Session, reason: str, dispute_id: str) -> CreditAdjustment | None:
    return session.execute(
        sa.select(CreditAdjustment).where(
            CreditAdjustment.reason == reason, CreditAdjustment.stripe_object_id == dispute_id
        )
    ).scalar_one_or_none()


def claw_back_dispute(purchase_id: int, dispute_id: str, amount_disputed: int) -> int:
    """Take back the disputed share when a dispute opens; returns credits taken now."""
    with transaction() as session:
        purchase = _locked_purchase(session, purchase_id)
        if _dispute_row(session, "dispute", dispute_id) is not None:
            return 0
        if _dispute_row(session, "dispute_won", dispute_id) is not None:
            # The "won" event came first: record the dispute with nothing to take.
            credits = 0
        else:
            credits = _credits_for(purchase, amount_disputed)
        taken = _claw_back(session, purchase, credits, "dispute", dispute_id)
    return taken


def return_dispute(purchase_id: int, dispute_id: str) -> int:
    """Give back what a dispute took once it is won (or an inquiry closed); returns the credits."""
    with transaction() as session:
        purchase = _locked_purchase(session, purchase_id)
        if _dispute_row(session, "dispute_won", dispute_id) is not None:
            return 0
        opened = _dispute_row(session, "dispute", dispute_id)
        given = -opened.amount if opened is not None else 0
        session.execute(
            sa.insert(adjustments).values(
                user_id=purchase.user_id,
                amount=given,
                reason="dispute_won",
                purchase_id=purchase.id,
                stripe_object_id=dispute_id,
                note="",
                created_at=utcnow(),
            )
        )
        purchase.credits_clawed_back -= given
        if given:
            balance = add_to_balance(session, purchase.user_id, given)
            log_write(purchase.user_id, "dispute_won", given, balance)
            session.flush()
            # A refund capped while the dispute held the credits is owed in full now, so
            # the outcome does not depend on which event came first.
            apply_refund_clawback(session, purchase_id, stripe_object_id=None)
    return given
