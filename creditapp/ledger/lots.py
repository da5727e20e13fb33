"""Lots: every credit in a wallet belongs to one, and every move of credits names the lots it touches.

Each function runs inside its caller's transaction, after the caller has locked the wallet
row (`_core.lock_wallet`, or the balance `UPDATE` of a hold): that lock is what makes the
reads and writes of one wallet's lots run one at a time. None of them changes
`wallets.balance` except where it says so; the caller adds what the move is worth.

- `add` makes a lot; what the wallet owes is paid from it first.
- `draw` takes a hold's cost from the live lots in spend order and records each draw.
- `give_back` returns released holds' draws to their lots; `give_back_rest` returns the
  part of a hold a capture did not charge, newest draw first.
- `take` removes credits for a clawback or a debit: the purchase's own lot first, then the
  other live lots in spend order, the rest owed; `return_taken` undoes a clawback.
- `expire` and `void` take a lot's remaining credits out with an entry.

A lot given credits back after its expiry (or after it was voided) loses them again at
once, with an `expired` (or `voided`) entry: nothing spends a credit of an ended lot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from creditapp.ledger._core import (
    Conn,
    add_to_balance,
    adjustments,
    draws,
    lot_entries,
    lots,
    owner_of,
    wallets,
)

# Spend order (§17): priority, soonest expiry (none last), promotional before paid, oldest
# effective_at, then id.
SPEND_ORDER = (
    lots.c.priority,
    lots.c.expires_at.is_(None),
    lots.c.expires_at,
    sa.case((lots.c.category == "promotional", 0), else_=1),
    lots.c.effective_at,
    lots.c.id,
)


def live(now: datetime | sa.ColumnElement) -> sa.ColumnElement[bool]:
    """A lot a spend may draw from at `now`."""
    return sa.and_(
        lots.c.remaining > 0,
        lots.c.voided_at.is_(None),
        lots.c.effective_at <= now,
        sa.or_(lots.c.expires_at.is_(None), lots.c.expires_at > now),
    )


def ended(now: datetime) -> sa.ColumnElement[bool]:
    """A lot past its expiry or voided: credits given back to it end at once."""
    return sa.or_(lots.c.voided_at.is_not(None), lots.c.expires_at <= now)


# The hold's draw in one statement on PostgreSQL: the live lots with a running total in
# spend order, the ones the cost reaches, their remaining lowered and one draw row each.
# The wallet row is locked by the debit before it, so no other writer changes these lots.
DRAW_PG = sa.text(
    """
WITH ordered AS (
  SELECT id, remaining,
         SUM(remaining) OVER (
           ORDER BY priority, expires_at IS NULL, expires_at,
                    CASE WHEN category = 'promotional' THEN 0 ELSE 1 END, effective_at, id
         ) AS upto
  FROM credit_lots
  WHERE wallet_id = :wallet_id AND remaining > 0 AND voided_at IS NULL
    AND effective_at <= :now AND (expires_at IS NULL OR expires_at > :now)
), reached AS (
  SELECT id, LEAST(remaining, :cost - (upto - remaining)) AS amount
  FROM ordered WHERE upto - remaining < :cost
), lowered AS (
  UPDATE credit_lots SET remaining = credit_lots.remaining - reached.amount
  FROM reached WHERE credit_lots.id = reached.id
  RETURNING credit_lots.id, reached.amount
)
INSERT INTO credit_lot_draws (spend_id, lot_id, amount)
SELECT :spend_id, id, amount FROM lowered
RETURNING amount
"""
)


@dataclass(frozen=True)
class NewLot:
    """What a lot is made of; `add` writes it."""

    source: str
    category: str
    amount: int
    effective_at: datetime
    expires_at: datetime | None = None
    priority: int = 50
    purchase_id: int | None = None
    granted_by: int | None = None
    reason: str = ""


def add(conn: Conn, wallet_id: int, owed: int, lot: NewLot, now: datetime) -> int:
    """Write the lot, pay what the wallet owes from it first, and add its credits to the
    balance; returns the lot id. `owed` is the locked wallet's."""
    paid = min(owed, lot.amount)
    lot_id = conn.execute(
        sa.insert(lots)
        .values(
            wallet_id=wallet_id,
            source=lot.source,
            category=lot.category,
            amount=lot.amount,
            remaining=lot.amount - paid,
            priority=lot.priority,
            effective_at=lot.effective_at,
            expires_at=lot.expires_at,
            purchase_id=lot.purchase_id,
            granted_by=lot.granted_by,
            reason=lot.reason,
            created_at=now,
        )
        .returning(lots.c.id)
    ).scalar_one()
    if paid:
        conn.execute(sa.update(wallets).where(wallets.c.id == wallet_id).values(owed=wallets.c.owed - paid))
        _entries(conn, [(lot_id, paid)], "owed", now)
    return lot_id


def draw(conn: Conn, wallet_id: int, spend_id: int, cost: int, now: datetime) -> int:
    """Take `cost` from the wallet's live lots in spend order, recording each draw; returns
    what was drawn (less than `cost` when the live lots hold less: the caller rolls back)."""
    if conn.dialect.name == "postgresql":
        found = conn.execute(
            DRAW_PG, {"wallet_id": wallet_id, "spend_id": spend_id, "cost": cost, "now": now}
        )
        return sum(found.scalars())
    plan = _plan(conn, wallet_id, cost, now)
    if plan:
        _lower(conn, plan)
        conn.execute(sa.insert(draws), [{"spend_id": spend_id, "lot_id": i, "amount": a} for i, a in plan])
    return sum(a for _, a in plan)


def give_back(conn: Conn, spend_ids: Iterable[int], now: datetime) -> None:
    """Return released spends' draws to their lots (the caller settled the spends and adds
    their credits to the balance); what lands on an ended lot ends again at once."""
    ids = sorted(spend_ids)
    if not ids:
        return
    rows = conn.execute(
        sa.select(draws.c.lot_id, sa.func.sum(draws.c.amount).label("amount"))
        .where(draws.c.spend_id.in_(ids))
        .group_by(draws.c.lot_id)
        .order_by(draws.c.lot_id)
    ).all()
    _raise(conn, [(r.lot_id, int(r.amount)) for r in rows if r.amount], now)


def give_back_rest(conn: Conn, spend_id: int, rest: int, now: datetime) -> None:
    """Return `rest` of a spend's draws to their lots, newest draw first, lowering the draws
    (a capture charged less than was held)."""
    found = conn.execute(
        sa.select(draws.c.id, draws.c.lot_id, draws.c.amount)
        .where(draws.c.spend_id == spend_id, draws.c.amount > 0)
        .order_by(draws.c.id.desc())
    ).all()
    back: list[tuple[int, int]] = []
    for row in found:
        if rest <= 0:
            break
        amount = min(rest, row.amount)
        conn.execute(sa.update(draws).where(draws.c.id == row.id).values(amount=draws.c.amount - amount))
        back.append((row.lot_id, amount))
        rest -= amount
    _raise(conn, back, now)


def take(
    conn: Conn,
    wallet_id: int,
    amount: int,
    kind: str,
    adjustment_id: int,
    now: datetime,
    purchase_id: int | None = None,
) -> int:
    """Remove `amount` from the wallet's lots: the purchase's own lot first (if live), then
    the live lots in spend order; returns what no lot could cover (the caller makes it owed
    or refuses). The caller changes the balance by the whole amount."""
    plan: list[tuple[int, int]] = []
    if purchase_id is not None:
        own = conn.execute(
            sa.select(lots.c.id, lots.c.remaining).where(lots.c.purchase_id == purchase_id, live(now))
        ).one_or_none()
        if own is not None:
            plan.append((own.id, min(own.remaining, amount)))
    left = amount - sum(a for _, a in plan)
    if left > 0:
        plan += _plan(conn, wallet_id, left, now, skip={i for i, _ in plan})
    _lower(conn, plan)
    _entries(conn, plan, kind, now, adjustment_id=adjustment_id, purchase_id=purchase_id)
    return amount - sum(a for _, a in plan)


def return_taken(conn: Conn, wallet_id: int, owed: int, amount: int, purchase_id: int, now: datetime) -> None:
    """Undo `amount` of a purchase's clawback: what the wallet owes first, then the lots the
    clawback took from (latest first), then lots that paid what was owed, then the
    purchase's own lot. The caller adds `amount` to the balance."""
    cleared = min(owed, amount)
    if cleared:
        conn.execute(
            sa.update(wallets).where(wallets.c.id == wallet_id).values(owed=wallets.c.owed - cleared)
        )
    left = amount - cleared
    net = sa.func.sum(lot_entries.c.amount)
    for kind, where in (
        ("clawback", lot_entries.c.purchase_id == purchase_id),
        ("owed", lots.c.wallet_id == wallet_id),
    ):
        if left <= 0:
            return
        found = conn.execute(
            sa.select(lot_entries.c.lot_id, net.label("net"))
            .join(lots, lots.c.id == lot_entries.c.lot_id)
            .where(lot_entries.c.kind == kind, where)
            .group_by(lot_entries.c.lot_id)
            .having(net > 0)
            .order_by(sa.func.max(lot_entries.c.id).desc())
        ).all()
        back = []
        for row in found:
            share = min(left, int(row.net))
            if share > 0:
                back.append((row.lot_id, share))
                left -= share
        _entries(
            conn,
            [(i, -a) for i, a in back],
            kind,
            now,
            purchase_id=purchase_id if kind == "clawback" else None,
        )
        _raise(conn, back, now)
    if left > 0:
        own = conn.execute(sa.select(lots.c.id).where(lots.c.purchase_id == purchase_id)).scalar_one_or_none()
        if own is not None:
            _entries(conn, [(own, -left)], "clawback", now, purchase_id=purchase_id)
            _raise(conn, [(own, left)], now)


def end(
    conn: Conn, wallet_id: int, lot_id: int, kind: str, now: datetime, note: str = "", by: int | None = None
) -> int:
    """Take a lot's remaining credits out of the wallet with one `expired` or `voided`
    adjustment (`note`, and `by` the staff member who voided it) and its lot entry; returns
    the credits taken (0: nothing written)."""
    amount = conn.execute(sa.select(lots.c.remaining).where(lots.c.id == lot_id)).scalar_one()
    if amount <= 0:
        return 0
    conn.execute(sa.update(lots).where(lots.c.id == lot_id).values(remaining=0))
    adjustment_id = conn.execute(
        sa.insert(adjustments)
        .values(
            user_id=owner_of(wallet_id),
            wallet_id=wallet_id,
            amount=-amount,
            reason=kind,
            lot_id=lot_id,
            admin_user_id=by,
            note=note,
            created_at=now,
        )
        .returning(adjustments.c.id)
    ).scalar_one()
    _entries(conn, [(lot_id, amount)], kind, now, adjustment_id=adjustment_id)
    add_to_balance(conn, wallet_id, -amount)
    return amount


def _plan(
    conn: Conn, wallet_id: int, amount: int, now: datetime, skip: set[int] | None = None
) -> list[tuple[int, int]]:
    """(lot id, credits) to take `amount` from the live lots in spend order (less if short)."""
    found = conn.execute(
        sa.select(lots.c.id, lots.c.remaining)
        .where(lots.c.wallet_id == wallet_id, live(now))
        .order_by(*SPEND_ORDER)
    ).all()
    plan: list[tuple[int, int]] = []
    for row in found:
        if amount <= 0:
            break
        if skip and row.id in skip:
            continue
        taken = min(amount, row.remaining)
        plan.append((row.id, taken))
        amount -= taken
    return plan


def _lower(conn: Conn, plan: list[tuple[int, int]]) -> None:
    for lot_id, amount in plan:
        if amount:
            conn.execute(
                sa.update(lots).where(lots.c.id == lot_id).values(remaining=lots.c.remaining - amount)
            )


def _raise(conn: Conn, back: list[tuple[int, int]], now: datetime) -> None:
    """Add credits back to lots; those that have ended lose them again at once."""
    for lot_id, amount in back:
        if not amount:
            continue
        row = conn.execute(
            sa.update(lots)
            .where(lots.c.id == lot_id)
            .values(remaining=lots.c.remaining + amount)
            .returning(lots.c.wallet_id, lots.c.voided_at, lots.c.expires_at)
        ).one()
        if row.voided_at is not None:
            end(conn, row.wallet_id, lot_id, "voided", now)
        elif row.expires_at is not None and aware(row.expires_at) <= now:
            end(conn, row.wallet_id, lot_id, "expired", now)


def _entries(
    conn: Conn,
    moves: list[tuple[int, int]],
    kind: str,
    now: datetime,
    adjustment_id: int | None = None,
    purchase_id: int | None = None,
) -> None:
    rows = [
        {
            "lot_id": lot_id,
            "kind": kind,
            "amount": amount,
            "adjustment_id": adjustment_id,
            "purchase_id": purchase_id,
            "created_at": now,
        }
        for lot_id, amount in moves
        if amount
    ]
    if rows:
        conn.execute(sa.insert(lot_entries), rows)


def aware(when: datetime) -> datetime:
    """SQLite gives datetimes back without their zone; every stored time is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
