"""Credits coming in: the signup bonus, admin grants, completed purchases."""

from __future__ import annotations

import sqlalchemy as sa

from creditapp.ledger._core import (
    EmailTaken,
    InvalidAmount,
    UnknownPurchase,
    UnknownUser,
    add_to_balance,
    adjustments,
    log,
    log_write,
    purchases,
    users,
)
from creditapp.ledger.clawbacks import apply_clawback_target
from creditapp.ledger.outbox import Outbox
from creditapp.ledger.topups import after_topup_completed, reset_failures
from creditapp.models import CreditPurchase, User, utcnow
from creditapp.platform.sql import conflict_insert
from creditapp.platform.transactions import stage, write


def register_user(
    google_sub: str, email: str, name: str, avatar_url: str | None, bonus: int
) -> tuple[int, bool]:
    """Create the user for a first sign-in with the signup bonus, in one transaction.

    Returns (user_id, created). When the user already exists (or a concurrent first
    sign-in created it a moment ago), nothing is granted and created is False.
    """
    with write() as session:
        user_id = session.execute(
            conflict_insert(users)
            .values(
                google_sub=google_sub,
                email=email.lower(),
                name=name,
                avatar_url=avatar_url,
                credits=0,
                created_at=utcnow(),
            )
            # Any conflict (sub or e-mail) means a concurrent first sign-in won the race.
            .on_conflict_do_nothing()
            .returning(users.c.id)
        ).scalar_one_or_none()
        if user_id is None:
            session.rollback()
            existing = session.execute(
                sa.select(users.c.id).where(users.c.google_sub == google_sub)
            ).scalar_one_or_none()
            if existing is None:
                raise EmailTaken(f"{email.lower()} belongs to another account")
            return existing, False
        if bonus > 0:
            _grant_signup_bonus(session, user_id, bonus)
    return user_id, True


def grant_signup_bonus(user_id: int, bonus: int) -> bool:
    """Grant the signup bonus if this user never had it; True when granted now."""
    with write() as session:
        # Lock order (package docstring): the user row before the adjustment row.
        locked = session.execute(
            sa.select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)
        ).scalar_one_or_none()
        if locked is None:
            raise UnknownUser(f"no user with id {user_id}")
        granted = _grant_signup_bonus(session, user_id, bonus)
    return granted


# The predicate of the partial unique index `uq_credit_adjustments_signup_bonus`, as SQL
# text: rendered as a bound parameter (`WHERE reason = $1`), PostgreSQL's generic plan for
# the prepared statement (psycopg prepares after five runs on a connection) cannot match
# the index and the insert fails.
SIGNUP_BONUS_INDEX_WHERE = sa.text("reason = 'signup_bonus'")


def _grant_signup_bonus(session: sa.orm.Session, user_id: int, bonus: int) -> bool:
    # The partial unique index on (user_id) WHERE reason='signup_bonus' makes a racing
    # second grant insert nothing, so the balance is only touched by the winner.
    inserted = session.execute(
        conflict_insert(adjustments)
        .values(user_id=user_id, amount=bonus, reason="signup_bonus", note="", created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id"], index_where=SIGNUP_BONUS_INDEX_WHERE)
        .returning(adjustments.c.id)
    ).scalar_one_or_none()
    if inserted is None:
        return False
    log_write(user_id, "signup_bonus", bonus, add_to_balance(session, user_id, bonus))
    return True


def grant(user_id: int, amount: int, note: str, admin_user_id: int | None = None) -> int:
    """Admin adjustment by a signed amount with a reason; returns the new balance.

    A debit never takes a balance below zero: only clawbacks may do that.
    """
    if amount == 0:
        raise InvalidAmount("an adjustment must change the balance")
    if not note.strip():
        raise InvalidAmount("an adjustment needs a reason")
    with write() as session:
        condition = [users.c.id == user_id]
        if amount < 0:
            condition.append(users.c.credits + amount >= 0)
        balance = session.execute(
            sa.update(users)
            .where(*condition)
            .values(credits=users.c.credits + amount)
            .returning(users.c.credits)
        ).scalar_one_or_none()
        if balance is None:
            if session.get(User, user_id) is None:
                raise UnknownUser(f"no user with id {user_id}")
            raise InvalidAmount("that debit would take the balance below zero")
        session.execute(
            sa.insert(adjustments).values(
                user_id=user_id,
                amount=amount,
                reason="admin",
                admin_user_id=admin_user_id,
                note=note.strip(),
                created_at=utcnow(),
            )
        )
    log_write(user_id, "admin", amount, balance)
    return balance


def complete_purchase(
    purchase_id: int, payment_intent_id: str | None, amount_paid: int, currency: str
) -> bool:
    """Credit a pending purchase exactly once; True when this call credited it.

    Whoever arrives first (webhook, success page, reconcile) wins; the conditional
    status update makes every later call a no-op. A refund or dispute Stripe reported
    before the purchase completed is taken back in the same transaction. An automatic
    top-up's receipt e-mail is written in it too, so it exists exactly when the credits do.
    A canceled automatic top-up is credited too: it is called only with a payment Stripe
    took, and money taken is never left uncredited (a charge still in flight when the top-up
    was canceled, say).
    """
    with write() as session:
        row = session.execute(
            sa.update(purchases)
            .where(
                purchases.c.id == purchase_id,
                sa.or_(
                    purchases.c.status == "pending",
                    sa.and_(purchases.c.status == "canceled", purchases.c.source == "auto_recharge"),
                ),
            )
            .values(
                status="completed",
                completed_at=utcnow(),
                stripe_payment_intent_id=payment_intent_id,
                amount_paid=amount_paid,
                currency=currency.lower(),
            )
            .returning(purchases.c.user_id, purchases.c.credits_purchased, purchases.c.source)
        ).one_or_none()
        if row is None:
            if session.get(CreditPurchase, purchase_id) is None:
                raise UnknownPurchase(f"no purchase {purchase_id}")
            return False
        balance = add_to_balance(session, row.user_id, row.credits_purchased)
        reset_failures(session, purchase_id, row.user_id)
        if row.source == "auto_recharge":
            receipt = after_topup_completed(session, purchase_id, row.user_id, balance)
            stage(session, Outbox(emails=receipt).handoffs())
        apply_clawback_target(session, purchase_id)
    log.info(
        "ledger purchase",
        extra={
            "user_id": row.user_id,
            "operation": "purchase",
            "amount": row.credits_purchased,
            "balance": balance,
        },
    )
    return True


def mark_purchase(purchase_id: int, status: str) -> bool:
    """Move a pending purchase to failed or expired; completed purchases never change."""
    if status not in ("failed", "expired"):
        raise ValueError(f"cannot mark a purchase {status!r}")
    with write() as session:
        changed = session.execute(
            sa.update(purchases)
            .where(purchases.c.id == purchase_id, purchases.c.status == "pending")
            .values(status=status)
            .returning(purchases.c.id)
        ).scalar_one_or_none()
    return changed is not None
