"""How many credits a user spent on features, day by day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditSpend, utcnow


@dataclass(frozen=True)
class Day:
    """Credits captured on one UTC day."""

    day: date
    credits: int


def daily_spend(user_id: int, days: int = 30, today: date | None = None) -> list[Day]:
    """The last `days` UTC days, oldest first, zero-filled, from one GROUP BY query."""
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=UTC)
    column = CreditSpend.created_at
    if db.session.get_bind().dialect.name == "postgresql":
        day = sa.func.date(sa.func.timezone("UTC", column))
    else:
        day = sa.func.date(column)  # SQLite stores the UTC wall time as text
    rows = db.session.execute(
        sa.select(day.label("day"), sa.func.sum(CreditSpend.credits_spent).label("credits"))
        .where(CreditSpend.user_id == user_id, CreditSpend.status == "captured", column >= start)
        .group_by(day)
    ).all()
    spent = {_as_date(row.day): int(row.credits) for row in rows}
    return [Day(d, spent.get(d, 0)) for d in (first + timedelta(days=i) for i in range(days))]


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
