"""The lots behind History's lines, and how they read in the page and the CSV: which lots a
spend drew from, and what expired or was voided.

A lot is named by where its credits came from and the day they arrived (UTC): "Signup
bonus", "Purchase of 3 Dec 2026", "Automatic top-up of 3 Dec 2026", "Grant “goodwill” of
3 Dec 2026" (a grant with its reason, which tells two grants of one day apart), "Earlier
balance" (a lot that held a wallet's credits from before lots).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditLot, CreditLotDraw

SOURCE_NAMES = {
    "signup_bonus": "Signup bonus",
    "purchase": "Purchase",
    "top_up": "Automatic top-up",
    "grant": "Grant",
    "migration": "Earlier balance",
}
# A wallet has at most one of these, so a spend's line names them without their day.
UNDATED = ("signup_bonus", "migration")
REASON_CHARS = 40


@dataclass(frozen=True)
class LotName:
    """Where a lot's credits came from, when they arrived, and a grant's reason."""

    source: str
    arrived: datetime
    reason: str = ""

    def name(self, dated: bool = False) -> str:
        """E.g. "Purchase of 3 Dec 2026"; the signup bonus and the earlier balance carry their
        day only when `dated`."""
        base = SOURCE_NAMES.get(self.source, self.source.replace("_", " ").capitalize())
        if self.source == "grant" and self.reason:
            reason = self.reason
            if len(reason) > REASON_CHARS:
                reason = reason[: REASON_CHARS - 1] + "…"
            base = f"{base} “{reason}”"
        if self.source in UNDATED and not dated:
            return base
        return f"{base} of {day(self.arrived)}"


@dataclass(frozen=True)
class Drawn:
    """Credits one spend took from one lot."""

    lot: LotName
    credits: int


@dataclass(frozen=True)
class Behind:
    """The lots behind a page: each spend's draws (by spend id, in the order drawn) and the
    lot each `expired` / `voided` adjustment ended (by adjustment id)."""

    draws: dict[int, tuple[Drawn, ...]] = field(default_factory=dict)
    ended: dict[int, LotName] = field(default_factory=dict)


def behind(spend_ids: Sequence[int], adjustment_ids: Sequence[int]) -> Behind:
    """One query for a page's lines, whatever the ledger's length: the draws of these spends
    (through the index on `credit_lot_draws.spend_id`) and the lots of these adjustments."""
    d, lot, a = CreditLotDraw, CreditLot, CreditAdjustment
    no_id = sa.cast(sa.null(), sa.BigInteger)
    parts = []
    if spend_ids:
        parts.append(
            sa.select(
                d.spend_id.label("spend_id"),
                no_id.label("adjustment_id"),
                d.id.label("draw_id"),
                d.amount.label("amount"),
                lot.source,
                lot.effective_at,
                lot.reason,
            )
            .join(lot, lot.id == d.lot_id)
            .where(d.spend_id.in_(spend_ids), d.amount > 0)
        )
    if adjustment_ids:
        parts.append(
            sa.select(
                no_id.label("spend_id"),
                a.id.label("adjustment_id"),
                no_id.label("draw_id"),
                sa.cast(sa.literal(0), sa.BigInteger).label("amount"),
                lot.source,
                lot.effective_at,
                lot.reason,
            )
            .join(lot, lot.id == a.lot_id)
            .where(a.id.in_(adjustment_ids))
        )
    if not parts:
        return Behind()
    query = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    draws: dict[int, list[tuple[int, Drawn]]] = {}
    found = Behind()
    for row in db.session.execute(query).all():
        name = LotName(row.source, row.effective_at, row.reason or "")
        if row.spend_id is not None:
            draws.setdefault(row.spend_id, []).append((row.draw_id, Drawn(name, int(row.amount))))
        else:
            found.ended[row.adjustment_id] = name
    for spend_id, drawn in draws.items():
        found.draws[spend_id] = tuple(item for _, item in sorted(drawn, key=lambda pair: pair[0]))
    return found


def day(when: datetime) -> str:
    """7 Dec 2026, the day in UTC (SQLite gives stored times back without their zone: UTC)."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return f"{when.day} {when:%b %Y}"


def credits(n: int) -> str:
    """1 credit, 1,200 credits."""
    return f"{n:,} credit" if n == 1 else f"{n:,} credits"


def drawn_from(draws: tuple[Drawn, ...]) -> str:
    """The page's words: "from Signup bonus (20), Purchase of 3 Dec 2026 (15)"; one lot
    needs no number ("from Signup bonus")."""
    if len(draws) == 1:
        return f"from {draws[0].lot.name()}"
    return "from " + ", ".join(f"{d.lot.name()} ({d.credits:,})" for d in draws)


def drawn_from_csv(draws: tuple[Drawn, ...]) -> str:
    """The CSV column: "Signup bonus: 20; Purchase of 3 Dec 2026: 15"."""
    return "; ".join(f"{d.lot.name()}: {d.credits}" for d in draws)


def ended(reason: str, taken: int, lot: LotName, note: str) -> str:
    """An `expired` or `voided` line: "Expired: 120 credits of the signup bonus of 7 Dec 2026",
    "Voided: 50 credits of the grant “promo” of 3 Dec 2026 (sent by mistake)"."""
    name = lot.name(dated=True)
    what = f"{reason.capitalize()}: {credits(taken)} of the {name[:1].lower()}{name[1:]}"
    return f"{what} ({note})" if note else what
