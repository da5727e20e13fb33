"""An organization's ledger as staff read it: every purchase, spend and adjustment of its wallet,
newest first, with who made it and the running balance.

The person's History (`history.entries`) lists one person's lines; an organization's wallet
is moved by many people, and staff need to see which of them moved it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from creditapp.models import CreditAdjustment, CreditPurchase, CreditSpend, User
from creditapp.platform.transactions import read

LIMIT = 100
# Rows of different tables written in the same microsecond: purchases, adjustments, spends.
RANK = {"purchase": 3, "adjustment": 2, "spend": 1}


@dataclass(frozen=True)
class Line:
    """One ledger line: what moved the balance, who did, and the balance once it counted."""

    kind: str  # purchase | spend | adjustment
    id: int
    created_at: datetime
    amount: int  # what it changed (0: a purchase not completed, a released hold)
    status: str  # a purchase's or spend's status, an adjustment's reason
    what: str  # the feature, the purchase's source, the adjustment's note
    who: str  # the e-mail of the person it is recorded under
    by_staff: bool  # an adjustment made in the console or by `flask credits grant`
    balance_after: int


def lines(wallet_id: int, balance: int, limit: int = LIMIT) -> list[Line]:
    """The wallet's newest `limit` lines, newest first; `balance` is what it may spend now."""
    p, s, a = CreditPurchase, CreditSpend, CreditAdjustment
    parts = [
        sa.select(
            sa.literal("purchase").label("kind"),
            p.id,
            p.created_at,
            sa.case((p.status == "completed", p.credits_purchased), else_=0).label("amount"),
            p.status,
            p.source.label("what"),
            p.user_id,
            sa.false().label("by_staff"),
        ).where(p.wallet_id == wallet_id),
        sa.select(
            sa.literal("spend").label("kind"),
            s.id,
            s.created_at,
            sa.case((s.status == "released", 0), else_=-s.credits_spent).label("amount"),
            s.status,
            s.feature_used.label("what"),
            s.user_id,
            sa.false().label("by_staff"),
        ).where(s.wallet_id == wallet_id),
        sa.select(
            sa.literal("adjustment").label("kind"),
            a.id,
            a.created_at,
            a.amount,
            a.reason.label("status"),
            a.note.label("what"),
            a.user_id,
            a.admin_user_id.is_not(None).label("by_staff"),
        ).where(a.wallet_id == wallet_id),
    ]
    ordered = [part.order_by(part.selected_columns.created_at.desc()).limit(limit) for part in parts]
    union = sa.union_all(*[part.subquery().select() for part in ordered]).subquery()
    rank = sa.case(RANK, value=union.c.kind)
    with read() as session:
        rows = session.execute(
            sa.select(union, User.email)
            .join(User, User.id == union.c.user_id)
            .order_by(union.c.created_at.desc(), rank.desc(), union.c.id.desc())
            .limit(limit)
        ).all()
    found = []
    for row in rows:
        found.append(
            Line(
                row.kind,
                row.id,
                _aware(row.created_at),
                int(row.amount),
                row.status,
                row.what or "",
                row.email,
                bool(row.by_staff),
                balance,
            )
        )
        balance -= int(row.amount)
    return found


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
