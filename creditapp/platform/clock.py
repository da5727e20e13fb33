"""The clock's calendar: where a month starts, the same for every rule that counts per month."""

from __future__ import annotations

from datetime import UTC, datetime


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s calendar month, UTC (`now` in any time zone)."""
    now = now.astimezone(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)
