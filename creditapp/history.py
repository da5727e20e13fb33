"""A user's ledger, newest first, keyset-paginated across the three ledger tables."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditPurchase, CreditSpend, FeatureJob

# Rank breaks ties between rows of different tables written in the same microsecond.
RANK = {"purchase": 3, "adjustment": 2, "spend": 1}


class BadCursor(ValueError):
    """The `before` cursor is not one this module produced."""


@dataclass(frozen=True)
class JobLink:
    """The job a spend paid for: what was asked, how it went, whether its result is kept."""

    id: str
    prompt: str
    size: int | None
    status: str
    has_result: bool


@dataclass(frozen=True)
class Entry:
    """One ledger line as a person reads it."""

    kind: str
    id: int
    created_at: datetime
    amount: int
    status: str
    description: str
    job: JobLink | None = None

    @property
    def cursor(self) -> str:
        """The keyset cursor that pages past this entry."""
        return f"{self.created_at.isoformat()}~{RANK[self.kind]}~{self.id}"


@dataclass(frozen=True)
class Page:
    """A page of entries and the cursor for the next one (None at the end)."""

    entries: list[Entry]
    next_cursor: str | None


def parse_cursor(raw: str) -> tuple[datetime, int, int]:
    """Decode a cursor; raises BadCursor on anything malformed."""
    try:
        stamp, rank, row_id = raw.split("~")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when, int(rank), int(row_id)
    except ValueError as exc:
        raise BadCursor(raw) from exc


def _after(model, rank: int, cursor: tuple[datetime, int, int] | None):
    """The keyset condition for one table: rows strictly older than the cursor."""
    if cursor is None:
        return sa.true()
    when, cursor_rank, cursor_id = cursor
    if rank < cursor_rank:
        return model.created_at <= when
    if rank > cursor_rank:
        return model.created_at < when
    return sa.or_(model.created_at < when, sa.and_(model.created_at == when, model.id < cursor_id))


def page(user_id: int, before: str | None = None, limit: int = 50) -> Page:
    """Up to `limit` entries older than the `before` cursor, newest first."""
    cursor = parse_cursor(before) if before else None
    n = limit + 1
    p, s, a = CreditPurchase, CreditSpend, CreditAdjustment
    parts = [
        sa.select(
            sa.literal("purchase").label("kind"),
            sa.literal(RANK["purchase"]).label("rank"),
            p.id,
            p.created_at,
            sa.case((p.status == "completed", p.credits_purchased), else_=0).label("amount"),
            p.status,
            (
                sa.case(
                    (p.source == "auto_recharge", sa.literal("Automatic top-up: ")),
                    else_=sa.literal("Bought "),
                )
                + sa.cast(p.credits_purchased, sa.String)
                + sa.literal(" credits")
            ).label("description"),
        )
        .where(p.user_id == user_id, _after(p, RANK["purchase"], cursor))
        .order_by(p.created_at.desc(), p.id.desc())
        .limit(n),
        sa.select(
            sa.literal("spend").label("kind"),
            sa.literal(RANK["spend"]).label("rank"),
            s.id,
            s.created_at,
            sa.case((s.status == "released", 0), else_=-s.credits_spent).label("amount"),
            s.status,
            s.feature_used.label("description"),
        )
        .where(s.user_id == user_id, _after(s, RANK["spend"], cursor))
        .order_by(s.created_at.desc(), s.id.desc())
        .limit(n),
        sa.select(
            sa.literal("adjustment").label("kind"),
            sa.literal(RANK["adjustment"]).label("rank"),
            a.id,
            a.created_at,
            a.amount,
            a.reason.label("status"),
            a.note.label("description"),
        )
        .where(a.user_id == user_id, _after(a, RANK["adjustment"], cursor))
        .order_by(a.created_at.desc(), a.id.desc())
        .limit(n),
    ]
    union = sa.union_all(*[part.subquery().select() for part in parts]).subquery()
    rows = db.session.execute(
        sa.select(union).order_by(union.c.created_at.desc(), union.c.rank.desc(), union.c.id.desc()).limit(n)
    ).all()
    entries = [
        Entry(r.kind, r.id, _aware(r.created_at), int(r.amount), r.status, r.description or "") for r in rows
    ]
    more = len(entries) > limit
    entries = _with_jobs(entries[:limit])
    return Page(entries, entries[-1].cursor if more and entries else None)


def _with_jobs(entries: list[Entry]) -> list[Entry]:
    """Link each spend to its job, with one query by the unique `spend_id` (none without spends)."""
    spend_ids = [e.id for e in entries if e.kind == "spend"]
    if not spend_ids:
        return entries
    j = FeatureJob
    rows = db.session.execute(
        sa.select(j.spend_id, j.id, j.params, j.status, j.result_key).where(j.spend_id.in_(spend_ids))
    ).all()
    links = {
        row.spend_id: JobLink(
            id=str(row.id),
            prompt=str((row.params or {}).get("prompt", "")),
            size=(row.params or {}).get("size"),
            status=row.status,
            has_result=row.status == "succeeded" and row.result_key is not None,
        )
        for row in rows
    }
    return [replace(e, job=links.get(e.id)) if e.kind == "spend" else e for e in entries]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
