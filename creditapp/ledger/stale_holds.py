"""Releasing abandoned holds: every hold older than a cutoff gives its credits back.

Run by `flask credits release-stale`, never on a feature's path. It settles
holds the way `spending.release` does, but for many users at once, in batches of
STALE_BATCH, one transaction each, taking the wallet rows in id order before the spends
(the lock order of the package docstring).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.ledger._core import lock_wallets, spends
from creditapp.ledger.spending import HELD, give_back_released
from creditapp.models import utcnow
from creditapp.platform import transactions

STALE_BATCH = 500


def release_stale(older_than: timedelta) -> list[tuple[int, int, int]]:
    """Release every hold older than `older_than`; returns (spend_id, user_id, credits).

    Works in batches, one transaction each, so a long backlog never holds many locks.
    """
    cutoff = utcnow() - older_than
    released: list[tuple[int, int, int]] = []
    while True:
        found, batch = _release_stale_batch(cutoff)
        released += batch
        if found < STALE_BATCH:
            return released


def _release_stale_batch(cutoff: datetime) -> tuple[int, list[tuple[int, int, int]]]:
    """Release up to STALE_BATCH stale holds; returns (how many were found, those released)."""
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        candidates = conn.execute(
            sa.select(spends.c.id, spends.c.wallet_id)
            .where(HELD, spends.c.created_at < cutoff)
            .order_by(spends.c.id)
            .limit(STALE_BATCH)
        ).all()
        if not candidates:
            return 0, []
        # Lock order: every wallet row first, in id order (so two runs at once agree), then
        # the spends. A hold captured or released meanwhile no longer matches `status = held`.
        lock_wallets(conn, {c.wallet_id for c in candidates})
        now = utcnow()
        rows = conn.execute(
            sa.update(spends)
            .where(spends.c.id.in_([c.id for c in candidates]), HELD)
            .values(status="released", settled_at=now)
            .returning(spends.c.id, spends.c.user_id, spends.c.wallet_id, spends.c.credits_spent)
        ).all()
        give_back_released(conn, rows, now)
        conn.commit()
    return len(candidates), [(r.id, r.user_id, r.credits_spent) for r in rows]
