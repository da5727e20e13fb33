"""Lots ending: the expiry sweep, the notice before an expiry, and voiding.

A lot stops counting the moment its `expires_at` passes, sweep or not (`lots.live`,
`models.unspendable`). The sweep (`flask credits expire`, also run by `flask jobs sweep`)
only writes it down: one `expired` adjustment and lot entry per lot, its remaining zeroed,
the balance lowered. It works in batches, one transaction each, locking the wallets in id
order before their lots (the package's lock order); a lot already zeroed writes nothing,
so two sweeps at once, or one run twice, write one entry per lot.

Credits drawn by a hold when their lot expires stay held; released later, they expire
then (`lots.give_back`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from creditapp.extensions import db
from creditapp.ledger import lots
from creditapp.ledger._core import (
    InvalidAmount,
    UnknownLot,
    lock_wallet,
    lock_wallets,
    log,
)
from creditapp.ledger._core import lots as lots_table
from creditapp.ledger.outbox import Outbox, Recipients, recipients, write_email
from creditapp.models import utcnow
from creditapp.platform import transactions
from creditapp.platform.transactions import write

EXPIRY_BATCH = 500
NOTICE_KIND = "lot_expiring"


@dataclass(frozen=True)
class Expired:
    """One lot the sweep ended: its id, its wallet, and the credits that expired."""

    lot_id: int
    wallet_id: int
    credits: int


def expire_lots(now: datetime | None = None) -> list[Expired]:
    """Write every lapsed lot's expiry (idempotent); returns what expired now."""
    now = now or utcnow()
    expired: list[Expired] = []
    while True:
        found, batch = _expire_batch(now)
        expired += batch
        if found < EXPIRY_BATCH:
            return expired


def _expire_batch(now: datetime) -> tuple[int, list[Expired]]:
    lapsed = sa.and_(
        lots_table.c.remaining > 0,
        lots_table.c.voided_at.is_(None),
        lots_table.c.expires_at.is_not(None),
        lots_table.c.expires_at <= now,
    )
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        candidates = conn.execute(
            sa.select(lots_table.c.id, lots_table.c.wallet_id)
            .where(lapsed)
            .order_by(lots_table.c.id)
            .limit(EXPIRY_BATCH)
        ).all()
        if not candidates:
            return 0, []
        # Lock order: the wallets first, in id order, so two sweeps at once agree.
        lock_wallets(conn, {c.wallet_id for c in candidates})
        done = []
        for lot in candidates:
            credits = lots.end(conn, lot.wallet_id, lot.id, "expired", now)
            if credits:
                done.append(Expired(lot.id, lot.wallet_id, credits))
        conn.commit()
    for item in done:
        log.info(
            "ledger expired",
            extra={
                "operation": "expired",
                "lot_id": item.lot_id,
                "wallet_id": item.wallet_id,
                "amount": -item.credits,
            },
        )
    return len(candidates), done


def write_expiry_notices(now: datetime | None = None) -> list[int]:
    """One e-mail per lot that expires within LOT_EXPIRY_NOTICE_DAYS and still has credits
    (deduplicated per lot: never twice), to the wallet's person or, for an organization's
    wallet, to each of its owners and admins; returns the new outbox ids, handed to the queue."""
    now = now or utcnow()
    days = int(current_app.config["LOT_EXPIRY_NOTICE_DAYS"])
    if days <= 0:
        return []
    soon = sa.and_(
        lots_table.c.remaining > 0,
        lots_table.c.voided_at.is_(None),
        lots_table.c.expires_at > now,
        lots_table.c.expires_at <= now + timedelta(days=days),
    )
    effects = Outbox()
    with write() as session:
        rows = session.execute(
            sa.select(
                lots_table.c.id,
                lots_table.c.wallet_id,
                lots_table.c.remaining,
                lots_table.c.amount,
                lots_table.c.source,
                lots_table.c.expires_at,
            )
            .where(soon)
            .order_by(lots_table.c.expires_at, lots_table.c.id)
        ).all()
        heard: dict[int, Recipients] = {}  # a wallet's person, or its organization's owners and admins
        for row in rows:
            if row.wallet_id not in heard:
                heard[row.wallet_id] = recipients(session, row.wallet_id)
            people = heard[row.wallet_id]
            payload = people.payload(
                {
                    "lot_id": row.id,
                    "credits": int(row.remaining),
                    "amount": int(row.amount),
                    "source": row.source,
                    "expires_at": lots.aware(row.expires_at).isoformat(),
                }
            )
            for user_id, address in people.people:
                key = people.dedupe_key(f"lot-expiring:{row.id}", user_id)
                email = write_email(session, NOTICE_KIND, user_id, address, key, payload)
                if email is not None:
                    effects.emails.append(email)
        transactions.stage(session, effects.handoffs())
    return effects.emails


def void_lot(lot_id: int, reason: str, staff_user_id: int | None = None) -> int:
    """Take a lot's remaining credits out with a `voided` entry; returns the credits voided.

    Held credits drawn from it stay held (released later, they are voided then). Voiding a
    voided lot again changes nothing.
    """
    if not reason.strip():
        raise InvalidAmount("voiding a lot needs a reason")
    now = utcnow()
    with write() as session:
        wallet_id = session.execute(
            sa.select(lots_table.c.wallet_id).where(lots_table.c.id == lot_id)
        ).scalar_one_or_none()
        if wallet_id is None:
            raise UnknownLot(f"no lot {lot_id}")
        lock_wallet(session, wallet_id)
        marked = session.execute(
            sa.update(lots_table)
            .where(lots_table.c.id == lot_id, lots_table.c.voided_at.is_(None))
            .values(voided_at=now)
            .returning(lots_table.c.id)
        ).scalar_one_or_none()
        credits = 0
        if marked is not None:
            credits = lots.end(
                session, wallet_id, lot_id, "voided", now, note=reason.strip(), by=staff_user_id
            )
    log.info("ledger voided", extra={"operation": "voided", "lot_id": lot_id, "amount": -credits})
    return credits
