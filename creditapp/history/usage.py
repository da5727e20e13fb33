"""How many credits a wallet spent on features: by feature, API key, member or UTC day, over a
range of days (by member: who spent from an organization's wallet).

What counts is a captured spend's `credits_spent` (what it was charged). A spend still held is
not spent yet and a released one never was: neither counts. A spend belongs to the UTC day it
was made (its hold's `created_at`), so one captured after midnight still counts on its first day.
Each answer is one GROUP BY query over the wallet's spends in the range.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.history.scope import PERSONAL, Scope
from creditapp.models import ApiKey, CreditSpend, User, utcnow

GROUPINGS = ("day", "feature", "key", "member")
DEFAULT_GROUPING = "day"
DEFAULT_DAYS = 30
MAX_DAYS = 366
BROWSER = "browser"  # the `key` of the row for spends made in the browser, not with an API key
# ASCII digits only: date.fromisoformat would also take "20240601" and "2024-W22-6".
ISO_DATE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadUsageQuery(ValueError):
    """A `from`, `to` or `group_by` the usage cannot be read for.

    `field` names the parameter; the message is for a program, `words` for a person.
    """

    def __init__(self, field: str, message: str, words: str) -> None:
        super().__init__(message)
        self.field = field
        self.words = words


@dataclass(frozen=True)
class UsageQuery:
    """UTC days `first` to `last` (both included) and how to group them."""

    first: date
    last: date
    group_by: str

    @property
    def days(self) -> int:
        """How many days the range covers."""
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class UsageRow:
    """Captured credits and spends for one feature, API key or day."""

    key: str
    label: str
    credits: int
    uses: int


@dataclass(frozen=True)
class Usage:
    """The rows of one range and grouping; days come oldest first, the rest most credits first."""

    query: UsageQuery
    rows: list[UsageRow]

    @property
    def total(self) -> int:
        """Credits spent over the whole range."""
        return sum(row.credits for row in self.rows)

    @property
    def uses(self) -> int:
        """Captured spends over the whole range."""
        return sum(row.uses for row in self.rows)

    @property
    def peak(self) -> int:
        """The most credits on one row (0 when nothing was spent)."""
        return max((row.credits for row in self.rows), default=0)


def default_query(today: date) -> UsageQuery:
    """The last DEFAULT_DAYS UTC days, today included, by day."""
    return UsageQuery(today - timedelta(days=DEFAULT_DAYS - 1), today, DEFAULT_GROUPING)


def parse_query(args: Mapping[str, str], today: date) -> UsageQuery:
    """`from`, `to` (YYYY-MM-DD, UTC days, both included) and `group_by` of a request.

    Without `to` the range ends today; without `from` it is the DEFAULT_DAYS days up to `to`.
    Raises BadUsageQuery for a date that is not one, `from` after `to`, a range longer than
    MAX_DAYS, or a grouping other than GROUPINGS.
    """
    group_by = args.get("group_by", DEFAULT_GROUPING)
    if group_by not in GROUPINGS:
        raise BadUsageQuery(
            "group_by",
            "`group_by` must be one of: " + ", ".join(GROUPINGS) + ".",
            "Group the credits by day, by feature, by API key or by member.",
        )
    first = _day(args, "from")
    last = _day(args, "to")
    if first is not None and last is None and first > today:
        raise BadUsageQuery(
            "from",
            "`from` must be on or before `to` (today when `to` is left out).",
            "The first day cannot be after today.",
        )
    last = last or today
    if first is None:
        first = last - timedelta(days=min(DEFAULT_DAYS - 1, (last - date.min).days))
    if first > last:
        raise BadUsageQuery(
            "from", "`from` must be on or before `to`.", "The first day must be on or before the last day."
        )
    query = UsageQuery(first, last, group_by)
    if query.days > MAX_DAYS:
        raise BadUsageQuery(
            "from",
            f"The range may cover at most {MAX_DAYS} days.",
            f"Choose at most {MAX_DAYS} days: that range has {query.days:,}.",
        )
    return query


def _day(args: Mapping[str, str], field: str) -> date | None:
    raw = args.get(field)
    if raw is None:
        return None
    try:
        if ISO_DATE.fullmatch(raw) is None:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        name = "first" if field == "from" else "last"
        raise BadUsageQuery(
            field,
            f"`{field}` must be a date written YYYY-MM-DD.",
            f"The {name} day is not a date: pick one, or write it as YYYY-MM-DD.",
        ) from None


def spent(user_id: int, query: UsageQuery, title: Callable[[str], str], scope: Scope = PERSONAL) -> Usage:
    """The user's personal wallet's captured credits over `query`, from one GROUP BY query;
    with `scope`, an organization's wallet (a plain member's own spends only, history.scope).

    `title` names a feature from its `feature_used` value (the feature registry's lookup).
    """
    s = CreditSpend
    # For the personal wallet the spender's own user_id sits beside the wallet: the range is
    # then read from the (user_id, created_at, id) index.
    where = [
        scope.lines(s, user_id),
        s.status == "captured",
        s.created_at >= _start_of(query.first),
    ]
    if query.last < date.max:
        where.append(s.created_at < _start_of(query.last + timedelta(days=1)))
    credits = sa.func.sum(s.credits_spent).label("credits")
    uses = sa.func.count().label("uses")
    if query.group_by == "feature":
        found = db.session.execute(
            sa.select(s.feature_used, credits, uses).where(*where).group_by(s.feature_used)
        ).all()
        rows = [UsageRow(r.feature_used, title(r.feature_used), int(r.credits), r.uses) for r in found]
        return Usage(query, _most_first(rows))
    if query.group_by == "key":
        found = db.session.execute(
            sa.select(s.api_key_id, ApiKey.name, ApiKey.prefix, credits, uses)
            .outerjoin(ApiKey, ApiKey.id == s.api_key_id)
            .where(*where)
            .group_by(s.api_key_id, ApiKey.name, ApiKey.prefix)
        ).all()
        rows = [_key_row(r) for r in found]
        return Usage(query, _most_first(rows))
    if query.group_by == "member":
        found = db.session.execute(
            sa.select(User.email, User.name, credits, uses)
            .join(User, User.id == s.user_id)
            .where(*where)
            .group_by(User.id, User.email, User.name)
        ).all()
        rows = [UsageRow(r.email, who(r.name, r.email), int(r.credits), r.uses) for r in found]
        return Usage(query, _most_first(rows))
    day = _utc_day(s.created_at).label("day")
    found = db.session.execute(sa.select(day, credits, uses).where(*where).group_by(day)).all()
    by_day = {_as_date(r.day): r for r in found}
    rows = []
    for offset in range(query.days):
        d = query.first + timedelta(days=offset)
        r = by_day.get(d)
        rows.append(UsageRow(d.isoformat(), d.isoformat(), int(r.credits) if r else 0, r.uses if r else 0))
    return Usage(query, rows)


def _key_row(row: sa.Row) -> UsageRow:
    if row.api_key_id is None:
        return UsageRow(BROWSER, "Browser", int(row.credits), row.uses)
    # As History names a key's spends.
    return UsageRow(row.prefix, f"{row.name} ({row.prefix})", int(row.credits), row.uses)


def who(name: str | None, email: str) -> str:
    """A person as an organization's pages name them: "Ada Lovelace <ada@example.com>"."""
    return f"{name} <{email}>" if name and name.strip() and name.strip() != email else email


def _most_first(rows: list[UsageRow]) -> list[UsageRow]:
    return sorted(rows, key=lambda row: (-row.credits, row.label, row.key))


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _utc_day(column: sa.ColumnElement) -> sa.ColumnElement:
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.date(sa.func.timezone("UTC", column))
    return sa.func.date(column)  # SQLite stores the UTC wall time as text


@dataclass(frozen=True)
class Day:
    """Credits captured on one UTC day."""

    day: date
    credits: int


def daily_spend(
    user_id: int, days: int = DEFAULT_DAYS, today: date | None = None, scope: Scope = PERSONAL
) -> list[Day]:
    """The last `days` UTC days, oldest first, zero-filled, from one GROUP BY query."""
    today = today or utcnow().date()
    query = UsageQuery(today - timedelta(days=days - 1), today, "day")
    return [Day(date.fromisoformat(row.key), row.credits) for row in spent(user_id, query, str, scope).rows]


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
