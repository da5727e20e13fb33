"""Credits coming in, each as a lot: the signup bonus, grants, completed purchases and top-ups."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from creditapp.ledger import lots
from creditapp.ledger._core import (
    EmailTaken,
    Granted,
    InvalidAmount,
    UnknownPurchase,
    add_to_balance,
    adjustments,
    lock_user_wallet,
    lock_wallet,
    log,
    log_write,
    purchases,
    users,
    wallet_of,
    wallets,
)
from creditapp.ledger.clawbacks import apply_clawback_target
from creditapp.ledger.lots import NewLot
from creditapp.ledger.outbox import Outbox
from creditapp.ledger.topups import after_topup_completed, reset_failures
from creditapp.models import LOT_CATEGORIES, CreditPurchase, utcnow
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
        now = utcnow()
        wallet_id = session.execute(
            sa.insert(wallets).values(balance=0, owed=0, created_at=now).returning(wallets.c.id)
        ).scalar_one()
        user_id = session.execute(
            conflict_insert(users)
            .values(
                google_sub=google_sub,
                email=email.lower(),
                name=name,
                avatar_url=avatar_url,
                wallet_id=wallet_id,
                created_at=now,
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
        # Lock order (package docstring): the wallet row before the adjustment row.
        lock_user_wallet(session, user_id)
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
    now = utcnow()
    inserted = session.execute(
        conflict_insert(adjustments)
        .values(
            user_id=user_id,
            wallet_id=wallet_of(user_id),
            amount=bonus,
            reason="signup_bonus",
            note="",
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id"], index_where=SIGNUP_BONUS_INDEX_WHERE)
        .returning(adjustments.c.id)
    ).scalar_one_or_none()
    if inserted is None:
        return False
    wallet = lock_user_wallet(session, user_id)
    lot = NewLot(
        "signup_bonus",
        "promotional",
        bonus,
        effective_at=now,
        expires_at=expiry(now, current_app.config["SIGNUP_BONUS_EXPIRES_DAYS"]),
    )
    lot_id = lots.add(session, wallet.id, wallet.owed, lot, now)
    session.execute(sa.update(adjustments).where(adjustments.c.id == inserted).values(lot_id=lot_id))
    log_write(user_id, "signup_bonus", bonus, add_to_balance(session, wallet.id, bonus))
    return True


def expiry(start: datetime, days: int) -> datetime | None:
    """When credits arriving at `start` expire under a `…_DAYS` setting (0 or less: never)."""
    return start + timedelta(days=days) if days > 0 else None


def grant(
    user_id: int,
    amount: int,
    note: str,
    admin_user_id: int | None = None,
    category: str = "promotional",
    priority: int = 50,
    expires_at: datetime | None = None,
    wallet_id: int | None = None,
) -> Granted:
    """Give credits as a lot of their own (category, priority and expiry as the granter
    chooses), or with a negative amount take them from the live lots in spend order.

    The user's personal wallet, or `wallet_id` (an organization's; the adjustment is then
    recorded under `user_id`, who granted it).

    A debit never takes what may be spent below zero: only clawbacks may do that.
    """
    if amount == 0:
        raise InvalidAmount("an adjustment must change the balance")
    if not note.strip():
        raise InvalidAmount("an adjustment needs a reason")
    if category not in LOT_CATEGORIES:
        raise InvalidAmount(f"the category is one of {', '.join(LOT_CATEGORIES)}")
    if not 0 <= priority <= 100:
        raise InvalidAmount("the priority is a whole number from 0 to 100")
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        raise InvalidAmount("the expiry must be in the future")
    lot_id = None
    with write() as session:
        wallet = lock_user_wallet(session, user_id) if wallet_id is None else lock_wallet(session, wallet_id)
        adjustment_id = session.execute(
            sa.insert(adjustments)
            .values(
                user_id=user_id,
                wallet_id=wallet.id,
                amount=amount,
                reason="admin",
                admin_user_id=admin_user_id,
                note=note.strip(),
                created_at=now,
            )
            .returning(adjustments.c.id)
        ).scalar_one()
        if amount > 0:
            lot = NewLot(
                "grant",
                category,
                amount,
                effective_at=now,
                expires_at=expires_at,
                priority=priority,
                granted_by=admin_user_id,
                reason=note.strip(),
            )
            lot_id = lots.add(session, wallet.id, wallet.owed, lot, now)
            session.execute(
                sa.update(adjustments).where(adjustments.c.id == adjustment_id).values(lot_id=lot_id)
            )
        elif lots.take(session, wallet.id, -amount, "debit", adjustment_id, now) > 0:
            raise InvalidAmount("that debit would take the balance below zero")
        balance = add_to_balance(session, wallet.id, amount)
    log_write(user_id, "admin", amount, balance)
    return Granted(lot_id, balance)


def complete_purchase(
    purchase_id: int, payment_intent_id: str | None, amount_paid: int, currency: str
) -> bool:
    """Credit a pending purchase exactly once; True when this call credited it.

    Whoever arrives first (webhook, success page, reconcile) wins; the conditional
    status update makes every later call a no-op. A refund or dispute Stripe reported
    before the purchase completed is taken back in the same transaction. An automatic
    top-up's receipt e-mail is written in it too, so it exists exactly when the credits do.
    A canceled or failed automatic top-up is credited too: it is called only with a payment
    Stripe took, and money taken is never left uncredited (a charge still in flight when the
    top-up was canceled, or the open invoice of a declined one paid later on its hosted page).
    """
    with write() as session:
        row = session.execute(
            sa.update(purchases)
            .where(
                purchases.c.id == purchase_id,
                sa.or_(
                    purchases.c.status == "pending",
                    sa.and_(
                        purchases.c.status.in_(("canceled", "failed")),
                        purchases.c.source == "auto_recharge",
                    ),
                ),
            )
            .values(
                status="completed",
                completed_at=utcnow(),
                stripe_payment_intent_id=payment_intent_id,
                amount_paid=amount_paid,
                currency=currency.lower(),
            )
            .returning(
                purchases.c.user_id,
                purchases.c.wallet_id,
                purchases.c.credits_purchased,
                purchases.c.source,
                purchases.c.completed_at,
            )
        ).one_or_none()
        if row is None:
            if session.get(CreditPurchase, purchase_id) is None:
                raise UnknownPurchase(f"no purchase {purchase_id}")
            return False
        wallet = lock_wallet(session, row.wallet_id)
        lot = NewLot(
            "top_up" if row.source == "auto_recharge" else "purchase",
            "paid",
            row.credits_purchased,
            effective_at=row.completed_at,
            expires_at=expiry(row.completed_at, current_app.config["PURCHASED_CREDITS_EXPIRE_DAYS"]),
            purchase_id=purchase_id,
        )
        lots.add(session, wallet.id, wallet.owed, lot, row.completed_at)
        balance = add_to_balance(session, row.wallet_id, row.credits_purchased)
        reset_failures(session, purchase_id, row.wallet_id)
        if row.source == "auto_recharge":
            receipt = after_topup_completed(session, purchase_id, row.wallet_id, balance)
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
