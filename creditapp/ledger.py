"""The ledger: the only code that changes a balance.

Every public function that moves credits is one database transaction: it changes
`users.credits` with a single conditional statement (never read-modify-write in
Python), writes the matching ledger row, and commits on its last line. A failure
anywhere rolls the whole transaction back. Functions take plain ids so views,
webhook handlers, CLI commands and tests share them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditPurchase, CreditSpend, User, utcnow

log = logging.getLogger("creditapp.ledger")

users = User.__table__
spends = CreditSpend.__table__
purchases = CreditPurchase.__table__
adjustments = CreditAdjustment.__table__


class LedgerError(Exception):
    """Base class for refusals the caller can show to a person."""


class InsufficientCredits(LedgerError):
    """The balance does not cover the cost; nothing was charged."""

    def __init__(self, balance: int, required: int) -> None:
        super().__init__(f"insufficient credits: balance {balance}, required {required}")
        self.balance = balance
        self.required = required


class UnknownUser(LedgerError):
    """No user has that id or e-mail."""


class UnknownPurchase(LedgerError):
    """No purchase matches; a webhook naming it is a permanent failure."""


class EmailTaken(LedgerError):
    """Another Google account already signed up with this e-mail."""


class InvalidAmount(LedgerError):
    """An amount that makes no sense for the operation (zero, or a debit below zero)."""


@dataclass(frozen=True)
class SpendResult:
    """Outcome of a hold: the spend row and the balance after it."""

    spend_id: int
    status: str
    credits_spent: int
    balance: int
    replayed: bool
    fingerprint: str | None = None


@dataclass(frozen=True)
class Balance:
    """A user's spendable balance and the credits currently held."""

    credits: int
    held: int


@contextmanager
def _transaction() -> Iterator[sa.orm.Session]:
    """Run the block in the session's transaction: commit at the end, roll back on error."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _insert(table: sa.Table) -> sa.Insert:
    """A dialect insert that supports ON CONFLICT (PostgreSQL and SQLite)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _add_to_balance(session: sa.orm.Session, user_id: int, amount: int) -> int:
    """Add a signed amount to a balance in one statement; returns the new balance."""
    new = session.execute(
        sa.update(users)
        .where(users.c.id == user_id)
        .values(credits=users.c.credits + amount)
        .returning(users.c.credits)
    ).scalar_one_or_none()
    if new is None:
        raise UnknownUser(f"no user with id {user_id}")
    return new


def _log_write(user_id: int, operation: str, amount: int, balance: int) -> None:
    """One log line per balance change: who, what, how much, and the balance after."""
    log.info(
        f"ledger {operation}",
        extra={"user_id": user_id, "operation": operation, "amount": amount, "balance": balance},
    )


# --- spending: hold, capture, release -------------------------------------------------


def hold(
    user_id: int,
    feature: str,
    cost: int,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> SpendResult:
    """Deduct `cost` and record a held spend, or raise InsufficientCredits.

    With an idempotency key already used by this user, return the original spend and
    charge nothing again (also when two requests with the same key race). The original
    spend carries the `fingerprint` it was made with, so callers can refuse a key reused
    for a different request.
    """
    if cost <= 0:
        raise InvalidAmount("a spend costs at least one credit")
    with _transaction() as session:
        balance = session.execute(
            sa.update(users)
            .where(users.c.id == user_id, users.c.credits >= cost)
            .values(credits=users.c.credits - cost)
            .returning(users.c.credits)
        ).scalar_one_or_none()
        if balance is None:
            current = session.execute(
                sa.select(users.c.credits).where(users.c.id == user_id)
            ).scalar_one_or_none()
            if current is None:
                raise UnknownUser(f"no user with id {user_id}")
            existing = _spend_by_key(session, user_id, idempotency_key)
            if existing is not None:
                return existing
            log.info(
                "ledger hold refused",
                extra={"user_id": user_id, "operation": "refused", "amount": -cost, "balance": current},
            )
            raise InsufficientCredits(current, cost)
        row = {
            "user_id": user_id,
            "feature_used": feature,
            "credits_spent": cost,
            "status": "held",
            "idempotency_key": idempotency_key,
            "request_fingerprint": fingerprint,
            "created_at": utcnow(),
        }
        if idempotency_key is None:
            # No key cannot conflict; a plain INSERT is also compiled once and cached,
            # which the dialect's ON CONFLICT insert never is.
            insert = sa.insert(spends).values(row).returning(spends.c.id)
        else:
            insert = (
                _insert(spends)
                .values(row)
                .on_conflict_do_nothing(index_elements=["user_id", "idempotency_key"])
                .returning(spends.c.id)
            )
        spend_id = session.execute(insert).scalar_one_or_none()
        if spend_id is None:
            # The key was used before: undo this deduction and answer with the original.
            session.rollback()
            return _spend_by_key(session, user_id, idempotency_key)
    log.info(
        "ledger hold",
        extra={"user_id": user_id, "operation": "hold", "amount": -cost, "balance": balance},
    )
    return SpendResult(spend_id, "held", cost, balance, replayed=False, fingerprint=fingerprint)


def _spend_by_key(session: sa.orm.Session, user_id: int, key: str | None) -> SpendResult | None:
    """The spend this user made with this idempotency key, if any."""
    if key is None:
        return None
    row = session.execute(
        sa.select(
            spends.c.id,
            spends.c.status,
            spends.c.credits_spent,
            spends.c.request_fingerprint,
            users.c.credits,
        )
        .join(users, users.c.id == spends.c.user_id)
        .where(spends.c.user_id == user_id, spends.c.idempotency_key == key)
    ).one_or_none()
    if row is None:
        return None
    return SpendResult(
        row.id, row.status, row.credits_spent, row.credits, replayed=True, fingerprint=row.request_fingerprint
    )


def capture(spend_id: int) -> bool:
    """Mark a held spend captured; False when it was already settled (idempotent)."""
    with _transaction() as session:
        captured = session.execute(
            sa.update(spends)
            .where(spends.c.id == spend_id, spends.c.status == "held")
            .values(status="captured", settled_at=utcnow())
            .returning(spends.c.id)
        ).scalar_one_or_none()
    if captured is None:
        log.warning("capture found no held spend", extra={"spend_id": spend_id})
    else:
        log.info("ledger capture", extra={"spend_id": spend_id, "operation": "capture"})
    return captured is not None


def release(spend_id: int) -> bool:
    """Give a held spend's credits back; False when it was already settled (idempotent)."""
    with _transaction() as session:
        row = session.execute(
            sa.update(spends)
            .where(spends.c.id == spend_id, spends.c.status == "held")
            .values(status="released", settled_at=utcnow())
            .returning(spends.c.user_id, spends.c.credits_spent)
        ).one_or_none()
        if row is not None:
            balance = _add_to_balance(session, row.user_id, row.credits_spent)
    if row is not None:
        log.info(
            "ledger release",
            extra={
                "user_id": row.user_id,
                "spend_id": spend_id,
                "operation": "release",
                "amount": row.credits_spent,
                "balance": balance,
            },
        )
    return row is not None


def release_stale(older_than: timedelta) -> list[tuple[int, int, int]]:
    """Release every hold older than `older_than`; returns (spend_id, user_id, credits)."""
    cutoff = utcnow() - older_than
    with _transaction() as session:
        rows = session.execute(
            sa.update(spends)
            .where(spends.c.status == "held", spends.c.created_at < cutoff)
            .values(status="released", settled_at=utcnow())
            .returning(spends.c.id, spends.c.user_id, spends.c.credits_spent)
        ).all()
        refunds: dict[int, int] = {}
        for row in rows:
            refunds[row.user_id] = refunds.get(row.user_id, 0) + row.credits_spent
        # Fixed order so two runs at once lock users in the same order.
        for user_id in sorted(refunds):
            _add_to_balance(session, user_id, refunds[user_id])
    return [(r.id, r.user_id, r.credits_spent) for r in rows]


# --- credits coming in: signup bonus, admin grants, purchases -------------------------


def register_user(
    google_sub: str, email: str, name: str, avatar_url: str | None, bonus: int
) -> tuple[int, bool]:
    """Create the user for a first sign-in with the signup bonus, in one transaction.

    Returns (user_id, created). When the user already exists (or a concurrent first
    sign-in created it a moment ago), nothing is granted and created is False.
    """
    with _transaction() as session:
        user_id = session.execute(
            _insert(users)
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
    with _transaction() as session:
        granted = _grant_signup_bonus(session, user_id, bonus)
    return granted


def _grant_signup_bonus(session: sa.orm.Session, user_id: int, bonus: int) -> bool:
    # The partial unique index on (user_id) WHERE reason='signup_bonus' makes a racing
    # second grant insert nothing, so the balance is only touched by the winner.
    inserted = session.execute(
        _insert(adjustments)
        .values(user_id=user_id, amount=bonus, reason="signup_bonus", note="", created_at=utcnow())
        .on_conflict_do_nothing(
            index_elements=["user_id"], index_where=adjustments.c.reason == "signup_bonus"
        )
        .returning(adjustments.c.id)
    ).scalar_one_or_none()
    if inserted is None:
        return False
    _log_write(user_id, "signup_bonus", bonus, _add_to_balance(session, user_id, bonus))
    return True


def grant(user_id: int, amount: int, note: str, admin_user_id: int | None = None) -> int:
    """Admin adjustment by a signed amount with a reason; returns the new balance.

    A debit never takes a balance below zero: only clawbacks may do that.
    """
    if amount == 0:
        raise InvalidAmount("an adjustment must change the balance")
    if not note.strip():
        raise InvalidAmount("an adjustment needs a reason")
    with _transaction() as session:
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
    _log_write(user_id, "admin", amount, balance)
    return balance


def complete_purchase(
    purchase_id: int, payment_intent_id: str | None, amount_paid: int, currency: str
) -> bool:
    """Credit a pending purchase exactly once; True when this call credited it.

    Whoever arrives first (webhook, success page, reconcile) wins; the conditional
    status update makes every later call a no-op. A refund that arrived before the
    purchase completed is applied in the same transaction.
    """
    with _transaction() as session:
        row = session.execute(
            sa.update(purchases)
            .where(purchases.c.id == purchase_id, purchases.c.status == "pending")
            .values(
                status="completed",
                completed_at=utcnow(),
                stripe_payment_intent_id=payment_intent_id,
                amount_paid=amount_paid,
                currency=currency.lower(),
            )
            .returning(purchases.c.user_id, purchases.c.credits_purchased)
        ).one_or_none()
        if row is None:
            if session.get(CreditPurchase, purchase_id) is None:
                raise UnknownPurchase(f"no purchase {purchase_id}")
            return False
        balance = _add_to_balance(session, row.user_id, row.credits_purchased)
        _apply_refund_clawback(session, purchase_id, stripe_object_id=None)
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
    with _transaction() as session:
        changed = session.execute(
            sa.update(purchases)
            .where(purchases.c.id == purchase_id, purchases.c.status == "pending")
            .values(status=status)
            .returning(purchases.c.id)
        ).scalar_one_or_none()
    return changed is not None


# --- credits going back: refunds and disputes -----------------------------------------


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
        balance = _add_to_balance(session, purchase.user_id, -taken)
        _log_write(purchase.user_id, reason, -taken, balance)
    return taken


def _apply_refund_clawback(session: sa.orm.Session, purchase_id: int, stripe_object_id: str | None) -> int:
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
    with _transaction() as session:
        purchase = _locked_purchase(session, purchase_id)
        if amount_refunded > purchase.amount_refunded:
            purchase.amount_refunded = amount_refunded
            session.flush()
        taken = _apply_refund_clawback(session, purchase_id, stripe_object_id)
    return taken


def _dispute_row(session: sa.orm.Session, reason: str, dispute_id: str) -> CreditAdjustment | None:
    return session.execute(
        sa.select(CreditAdjustment).where(
            CreditAdjustment.reason == reason, CreditAdjustment.stripe_object_id == dispute_id
        )
    ).scalar_one_or_none()


def claw_back_dispute(purchase_id: int, dispute_id: str, amount_disputed: int) -> int:
    """Take back the disputed share when a dispute opens; returns credits taken now."""
    with _transaction() as session:
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
    """Give back what a dispute took once it is won; returns the credits given back."""
    with _transaction() as session:
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
            balance = _add_to_balance(session, purchase.user_id, given)
            _log_write(purchase.user_id, "dispute_won", given, balance)
    return given


# --- reading ---------------------------------------------------------------------------


def balance(user_id: int) -> Balance:
    """The spendable balance and credits on hold, in one statement."""
    held = (
        sa.select(sa.func.coalesce(sa.func.sum(spends.c.credits_spent), 0))
        .where(spends.c.user_id == user_id, spends.c.status == "held")
        .scalar_subquery()
    )
    row = db.session.execute(
        sa.select(users.c.credits, held.label("held")).where(users.c.id == user_id)
    ).one_or_none()
    if row is None:
        raise UnknownUser(f"no user with id {user_id}")
    return Balance(int(row.credits), int(row.held))


@dataclass(frozen=True)
class Mismatch:
    """A user whose stored balance differs from the sum of their ledger."""

    user_id: int
    email: str
    stored: int
    expected: int


def audit() -> list[Mismatch]:
    """Every user whose balance differs from their ledger sum, in one aggregate query."""
    bought = (
        sa.select(purchases.c.user_id, sa.func.sum(purchases.c.credits_purchased).label("n"))
        .where(purchases.c.status == "completed")
        .group_by(purchases.c.user_id)
        .subquery()
    )
    spent = (
        sa.select(spends.c.user_id, sa.func.sum(spends.c.credits_spent).label("n"))
        .where(spends.c.status.in_(("held", "captured")))
        .group_by(spends.c.user_id)
        .subquery()
    )
    adjusted = (
        sa.select(adjustments.c.user_id, sa.func.sum(adjustments.c.amount).label("n"))
        .group_by(adjustments.c.user_id)
        .subquery()
    )
    expected = (
        sa.func.coalesce(bought.c.n, 0) - sa.func.coalesce(spent.c.n, 0) + sa.func.coalesce(adjusted.c.n, 0)
    )
    rows = db.session.execute(
        sa.select(users.c.id, users.c.email, users.c.credits, expected.label("expected"))
        .outerjoin(bought, bought.c.user_id == users.c.id)
        .outerjoin(spent, spent.c.user_id == users.c.id)
        .outerjoin(adjusted, adjusted.c.user_id == users.c.id)
        .where(users.c.credits != expected)
        .order_by(users.c.id)
    ).all()
    return [Mismatch(r.id, r.email, int(r.credits), int(r.expected)) for r in rows]


def user_id_for_email(email: str) -> int:
    """The id of the user with this e-mail (case-insensitive), or UnknownUser."""
    user_id = db.session.execute(
        sa.select(users.c.id).where(users.c.email == email.strip().lower())
    ).scalar_one_or_none()
    if user_id is None:
        raise UnknownUser(f"no user with e-mail {email}")
    return user_id


def stale_cutoff(seconds: int) -> datetime:
    """The moment before which a hold counts as abandoned."""
    return utcnow() - timedelta(seconds=seconds)
