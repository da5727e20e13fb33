"""Reading the ledger: balances and the audit of every balance against its rows."""

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
