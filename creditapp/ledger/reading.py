"""Reading the ledger: balances, and the audit of every wallet, lot and clawback against its rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.ledger._core import (
    Balance,
    UnknownUser,
    adjustments,
    draws,
    lot_entries,
    lots,
    purchases,
    spends,
    users,
    wallets,
)
from creditapp.ledger.lots import SPEND_ORDER, aware, live
from creditapp.models import personal_wallet, spendable, utcnow


def _wallet(user_id: int, wallet_id: int | None) -> int | sa.ScalarSelect:
    """`wallet_id` when given (an organization's), else the user's personal wallet."""
    return personal_wallet(user_id) if wallet_id is None else wallet_id


def balance(user_id: int) -> Balance:
    """What the user's wallet may spend now, credits on hold and owed, in one statement."""
    held = (
        sa.select(sa.func.coalesce(sa.func.sum(spends.c.credits_spent), 0))
        .where(spends.c.wallet_id == users.c.wallet_id, spends.c.status == "held")
        .scalar_subquery()
    )
    row = db.session.execute(
        sa.select(
            spendable(users.c.wallet_id, utcnow()).label("credits"),
            held.label("held"),
            sa.select(wallets.c.owed)
            .where(wallets.c.id == users.c.wallet_id)
            .scalar_subquery()
            .label("owed"),
        ).where(users.c.id == user_id)
    ).one_or_none()
    if row is None:
        raise UnknownUser(f"no user with id {user_id}")
    return Balance(int(row.credits), int(row.held), int(row.owed))


def wallet_balance(wallet_id: int) -> Balance:
    """What any wallet (an organization's too) may spend now, credits on hold and owed, in one
    statement."""
    held = sa.select(sa.func.coalesce(sa.func.sum(spends.c.credits_spent), 0)).where(
        spends.c.wallet_id == wallet_id, spends.c.status == "held"
    )
    owed = sa.select(wallets.c.owed).where(wallets.c.id == wallet_id)
    row = db.session.execute(
        sa.select(
            spendable(sa.literal(wallet_id), utcnow()).label("credits"),
            held.scalar_subquery().label("held"),
            owed.scalar_subquery().label("owed"),
        )
    ).one()
    if row.credits is None:
        raise UnknownUser(f"no wallet with id {wallet_id}")
    return Balance(int(row.credits), int(row.held), int(row.owed))


@dataclass(frozen=True)
class Mismatch:
    """A wallet whose stored balance differs from the sum of its ledger, or from its lots."""

    wallet_id: int
    email: str
    stored: int
    expected: int
    what: str = "ledger sum"

    def describe(self) -> str:
        who = f"wallet {self.wallet_id} {self.email}"
        return f"MISMATCH {who}: balance {self.stored}, {self.what} {self.expected}"


@dataclass(frozen=True)
class LotMismatch:
    """A lot whose amount differs from its remaining, draws and entries."""

    lot_id: int
    wallet_id: int
    amount: int
    accounted: int  # remaining + drawn by held or captured spends + Σ entries

    def describe(self) -> str:
        return (
            f"MISMATCH lot {self.lot_id} of wallet {self.wallet_id}: amount {self.amount}, "
            f"remaining + drawn + entries {self.accounted}"
        )


@dataclass(frozen=True)
class ClawbackMismatch:
    """A purchase whose recorded clawback differs from the credits its clawback entries took."""

    purchase_id: int
    user_id: int
    email: str
    recorded: int  # credit_purchases.credits_clawed_back
    entries: int  # minus the sum of its refund / dispute / dispute_won adjustments

    def describe(self) -> str:
        return (
            f"MISMATCH purchase {self.purchase_id} of user {self.user_id} {self.email}: "
            f"clawback recorded {self.recorded}, clawback entries {self.entries}"
        )


CLAWBACK_REASONS = ("refund", "dispute", "dispute_won")
AuditFinding = Mismatch | LotMismatch | ClawbackMismatch


def audit() -> list[AuditFinding]:
    """Every wallet whose balance differs from its ledger sum or from its lots (Σ remaining −
    owed), every lot whose amount differs from where its credits went, then every purchase
    whose recorded clawback differs from its clawback entries: one aggregate query each."""
    return [*_balance_mismatches(), *_wallet_lot_mismatches(), *_lot_mismatches(), *_clawback_mismatches()]


def _balance_mismatches() -> list[Mismatch]:
    """Every wallet whose balance differs from its ledger sum, in one aggregate query."""
    bought = (
        sa.select(purchases.c.wallet_id, sa.func.sum(purchases.c.credits_purchased).label("n"))
        .where(purchases.c.status == "completed")
        .group_by(purchases.c.wallet_id)
        .subquery()
    )
    spent = (
        sa.select(spends.c.wallet_id, sa.func.sum(spends.c.credits_spent).label("n"))
        .where(spends.c.status.in_(("held", "captured")))
        .group_by(spends.c.wallet_id)
        .subquery()
    )
    adjusted = (
        sa.select(adjustments.c.wallet_id, sa.func.sum(adjustments.c.amount).label("n"))
        .group_by(adjustments.c.wallet_id)
        .subquery()
    )
    expected = (
        sa.func.coalesce(bought.c.n, 0) - sa.func.coalesce(spent.c.n, 0) + sa.func.coalesce(adjusted.c.n, 0)
    )
    rows = db.session.execute(
        sa.select(wallets.c.id, _email(), wallets.c.balance, expected.label("expected"))
        .outerjoin(bought, bought.c.wallet_id == wallets.c.id)
        .outerjoin(spent, spent.c.wallet_id == wallets.c.id)
        .outerjoin(adjusted, adjusted.c.wallet_id == wallets.c.id)
        .where(wallets.c.balance != expected)
        .order_by(wallets.c.id)
    ).all()
    return [Mismatch(r.id, r.email or "", int(r.balance), int(r.expected)) for r in rows]


def _wallet_lot_mismatches() -> list[Mismatch]:
    """Every wallet whose balance differs from Σ remaining of its lots − owed."""
    held = (
        sa.select(lots.c.wallet_id, sa.func.sum(lots.c.remaining).label("n"))
        .group_by(lots.c.wallet_id)
        .subquery()
    )
    expected = sa.func.coalesce(held.c.n, 0) - wallets.c.owed
    rows = db.session.execute(
        sa.select(wallets.c.id, _email(), wallets.c.balance, expected.label("expected"))
        .outerjoin(held, held.c.wallet_id == wallets.c.id)
        .where(wallets.c.balance != expected)
        .order_by(wallets.c.id)
    ).all()
    return [
        Mismatch(r.id, r.email or "", int(r.balance), int(r.expected), "lots remaining - owed") for r in rows
    ]


def _lot_mismatches() -> list[LotMismatch]:
    """Every lot whose amount differs from remaining + drawn (held or captured) + entries."""
    drawn = (
        sa.select(draws.c.lot_id, sa.func.sum(draws.c.amount).label("n"))
        .join(spends, spends.c.id == draws.c.spend_id)
        .where(spends.c.status.in_(("held", "captured")))
        .group_by(draws.c.lot_id)
        .subquery()
    )
    entered = (
        sa.select(lot_entries.c.lot_id, sa.func.sum(lot_entries.c.amount).label("n"))
        .group_by(lot_entries.c.lot_id)
        .subquery()
    )
    accounted = lots.c.remaining + sa.func.coalesce(drawn.c.n, 0) + sa.func.coalesce(entered.c.n, 0)
    rows = db.session.execute(
        sa.select(lots.c.id, lots.c.wallet_id, lots.c.amount, accounted.label("accounted"))
        .outerjoin(drawn, drawn.c.lot_id == lots.c.id)
        .outerjoin(entered, entered.c.lot_id == lots.c.id)
        .where(lots.c.amount != accounted)
        .order_by(lots.c.id)
    ).all()
    return [LotMismatch(r.id, r.wallet_id, int(r.amount), int(r.accounted)) for r in rows]


def _email() -> sa.Label:
    """The e-mail of the wallet's owner (personal wallets), for the audit's lines."""
    return sa.select(users.c.email).where(users.c.wallet_id == wallets.c.id).scalar_subquery().label("email")


def _clawback_mismatches() -> list[ClawbackMismatch]:
    """Every purchase whose `credits_clawed_back` differs from what its clawback adjustments
    took (a taking-back entry is negative), in one aggregate query."""
    moved = (
        sa.select(adjustments.c.purchase_id, sa.func.sum(adjustments.c.amount).label("n"))
        .where(adjustments.c.purchase_id.is_not(None), adjustments.c.reason.in_(CLAWBACK_REASONS))
        .group_by(adjustments.c.purchase_id)
        .subquery()
    )
    entries = -sa.func.coalesce(moved.c.n, 0)
    rows = db.session.execute(
        sa.select(
            purchases.c.id,
            purchases.c.user_id,
            users.c.email,
            purchases.c.credits_clawed_back,
            entries.label("entries"),
        )
        .join(users, users.c.id == purchases.c.user_id)
        .outerjoin(moved, moved.c.purchase_id == purchases.c.id)
        .where(purchases.c.credits_clawed_back != entries)
        .order_by(purchases.c.id)
    ).all()
    return [
        ClawbackMismatch(r.id, r.user_id, r.email, int(r.credits_clawed_back), int(r.entries)) for r in rows
    ]


def user_id_for_email(email: str) -> int:
    """The id of the user with this e-mail (case-insensitive), or UnknownUser."""
    user_id = db.session.execute(
        sa.select(users.c.id).where(users.c.email == email.strip().lower())
    ).scalar_one_or_none()
    if user_id is None:
        raise UnknownUser(f"no user with e-mail {email}")
    return user_id


@dataclass(frozen=True)
class LotView:
    """One lot as a person sees it: where it came from, what is left, when it ends."""

    id: int
    source: str
    category: str
    amount: int
    remaining: int  # 0 once expired or voided, or while its expiry has passed unswept
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    voided_at: datetime | None
    purchase_id: int | None
    reason: str
    created_at: datetime
    state: str  # live | used | expired | voided


@dataclass(frozen=True)
class Expiring:
    """The soonest expiry inside the notice window: the credits that end that day, and when."""

    credits: int
    expires_at: datetime


def lots_of(
    user_id: int, limit: int = 50, before_id: int | None = None, wallet_id: int | None = None
) -> list[LotView]:
    """The user's personal wallet's lots (or `wallet_id`'s: an organization's), newest first,
    `limit` at most, older than `before_id`."""
    return wallet_lots(_wallet(user_id, wallet_id), limit, before_id)


def wallet_lots(
    wallet_id: int | sa.ColumnElement, limit: int = 50, before_id: int | None = None
) -> list[LotView]:
    """Any wallet's lots (an organization's too), newest first, `limit` at most, older than `before_id`."""
    now = utcnow()
    query = sa.select(lots).where(lots.c.wallet_id == wallet_id).order_by(lots.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(lots.c.id < before_id)
    with db.engine.connect() as conn:  # a read of its own: no transaction left open after it
        rows = conn.execute(query).all()
    return [_lot_view(row, now) for row in rows]


def live_lots(user_id: int, wallet_id: int | None = None) -> list[LotView]:
    """The user's personal wallet's live lots (or `wallet_id`'s), what a spend may draw from
    now, in spend order."""
    now = utcnow()
    query = (
        sa.select(lots)
        .where(lots.c.wallet_id == _wallet(user_id, wallet_id), live(now))
        .order_by(*SPEND_ORDER)
    )
    with db.engine.connect() as conn:  # a read of its own: no transaction left open after it
        rows = conn.execute(query).all()
    return [_lot_view(row, now) for row in rows]


def _lot_view(row: sa.Row, now: datetime) -> LotView:
    expires_at = aware(row.expires_at) if row.expires_at is not None else None
    lapsed = expires_at is not None and expires_at <= now
    if row.voided_at is not None:
        state = "voided"
    elif lapsed:
        state = "expired"
    elif row.remaining > 0:
        state = "live"
    else:
        state = "used"
    return LotView(
        id=row.id,
        source=row.source,
        category=row.category,
        amount=int(row.amount),
        remaining=0 if lapsed or row.voided_at is not None else int(row.remaining),
        priority=row.priority,
        effective_at=aware(row.effective_at),
        expires_at=expires_at,
        voided_at=aware(row.voided_at) if row.voided_at is not None else None,
        purchase_id=row.purchase_id,
        reason=row.reason,
        created_at=aware(row.created_at),
        state=state,
    )


def expiring(user_id: int, notice_days: int, wallet_id: int | None = None) -> Expiring | None:
    """The credits of the user's live lots (or `wallet_id`'s) that expire soonest, if that is
    within `notice_days`: all live lots ending on that same (UTC) day count."""
    if notice_days <= 0:
        return None
    now = utcnow()
    query = (
        sa.select(lots.c.remaining, lots.c.expires_at)
        .where(
            lots.c.wallet_id == _wallet(user_id, wallet_id),
            live(now),
            lots.c.expires_at.is_not(None),
            lots.c.expires_at <= now + timedelta(days=notice_days),
        )
        .order_by(lots.c.expires_at)
    )
    with db.engine.connect() as conn:  # a read of its own: no transaction left open after it
        rows = conn.execute(query).all()
    if not rows:
        return None
    first = aware(rows[0].expires_at)
    credits = sum(int(r.remaining) for r in rows if aware(r.expires_at).date() == first.date())
    return Expiring(credits, first)
