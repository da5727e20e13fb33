"""Reading the ledger: balances, and the audit of every balance and every clawback against its rows."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.ledger._core import Balance, UnknownUser, adjustments, purchases, spends, users


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

    def describe(self) -> str:
        return f"MISMATCH user {self.user_id} {self.email}: balance {self.stored}, ledger sum {self.expected}"


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


def audit() -> list[Mismatch | ClawbackMismatch]:
    """Every balance that differs from its ledger sum, then every purchase whose recorded
    clawback differs from its clawback entries: one aggregate query each."""
    return [*_balance_mismatches(), *_clawback_mismatches()]


def _balance_mismatches() -> list[Mismatch]:
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
