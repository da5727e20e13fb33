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

LIMIT = 50
# Rows of different tables written in the same microsecond: purchases, adjustments, spends.
RANK = {"purchase": 3, "adjustment": 2, "spend": 1}


class BadCursor(ValueError):
    """The `before` cursor is not one `Page.next_cursor` made."""


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


@dataclass(frozen=True)
class Page:
    """Up to LIMIT lines, newest first, and the cursor of the older ones (None at the end)."""

    lines: list[Line]
    next_cursor: str | None


def _cursor(line: Line) -> str:
    """Where the next page starts: just past `line`, with the balance before it counted."""
    return f"{line.created_at.isoformat()}~{RANK[line.kind]}~{line.id}~{line.balance_after - line.amount}"


def _parse(raw: str) -> tuple[datetime, int, int, int]:
    try:
        stamp, rank, row_id, balance = raw.split("~")
        return _aware(datetime.fromisoformat(stamp)), int(rank), int(row_id), int(balance)
    except ValueError as exc:
        raise BadCursor(raw) from exc


def _older(model, rank: int, cursor: tuple[datetime, int, int, int] | None) -> sa.ColumnElement[bool]:
    """The keyset condition for one table: its rows after the cursor's line in the page's order."""
    if cursor is None:
        return sa.true()
    when, cursor_rank, cursor_id, _ = cursor
    if rank < cursor_rank:
        return model.created_at <= when
    if rank > cursor_rank:
        return model.created_at < when
    return sa.or_(model.created_at < when, sa.and_(model.created_at == when, model.id < cursor_id))


def lines(wallet_id: int, balance: int, before: str | None = None, limit: int = LIMIT) -> Page:
    """The wallet's lines older than the `before` cursor (else the newest), newest first, with
    the running balance: `balance` (what it may spend now) on the first page, the cursor's after."""
    cursor = _parse(before) if before else None
    if cursor is not None:
        balance = cursor[3]
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
        ).where(p.wallet_id == wallet_id, _older(p, RANK["purchase"], cursor)),
        sa.select(
            sa.literal("spend").label("kind"),
            s.id,
            s.created_at,
            sa.case((s.status == "released", 0), else_=-s.credits_spent).label("amount"),
            s.status,
            s.feature_used.label("what"),
            s.user_id,
            sa.false().label("by_staff"),
        ).where(s.wallet_id == wallet_id, _older(s, RANK["spend"], cursor)),
        sa.select(
            sa.literal("adjustment").label("kind"),
            a.id,
            a.created_at,
            a.amount,
            a.reason.label("status"),
            a.note.label("what"),
            a.user_id,
            a.admin_user_id.is_not(None).label("by_staff"),
        ).where(a.wallet_id == wallet_id, _older(a, RANK["adjustment"], cursor)),
    ]
    n = limit + 1
    ordered = [
        part.order_by(part.selected_columns.created_at.desc(), part.selected_columns.id.desc()).limit(n)
        for part in parts
    ]
    union = sa.union_all(*[part.subquery().select() for part in ordered]).subquery()
    rank = sa.case(RANK, value=union.c.kind)
    with read() as session:
        rows = session.execute(
            sa.select(union, User.email)
            .join(User, User.id == union.c.user_id)
            .order_by(union.c.created_at.desc(), rank.desc(), union.c.id.desc())
            .limit(n)
        ).all()
    found = []
    for row in rows[:limit]:
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
    more = len(rows) > limit and found
    return Page(found, _cursor(found[-1]) if more else None)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
