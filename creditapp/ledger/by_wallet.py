"""Reading one wallet by its id: what the JSON API shows for the wallet a call acts on (a
person's own, or an organization's, DESIGN §19). The same reads as `reading`'s per-user
ones, keyed by wallet."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.ledger._core import Balance, lots, spends, wallets
from creditapp.ledger.lots import SPEND_ORDER, aware, live
from creditapp.ledger.reading import Expiring, LotView, _lot_view
from creditapp.models import spendable, utcnow


class UnknownWallet(LookupError):
    """No wallet with this id."""


def wallet_balance(wallet_id: int) -> Balance:
    """What the wallet may spend now, credits on hold and owed, in one statement."""
    wallet = sa.literal(wallet_id)
    held = (
        sa.select(sa.func.coalesce(sa.func.sum(spends.c.credits_spent), 0))
        .where(spends.c.wallet_id == wallet, spends.c.status == "held")
        .scalar_subquery()
    )
    owed = sa.select(wallets.c.owed).where(wallets.c.id == wallet).scalar_subquery()
    with db.engine.connect() as conn:  # a read of its own: no transaction left open after it
        row = conn.execute(
            sa.select(spendable(wallet, utcnow()).label("credits"), held.label("held"), owed.label("owed"))
        ).one()
    if row.credits is None:
        raise UnknownWallet(f"no wallet with id {wallet_id}")
    return Balance(int(row.credits), int(row.held), int(row.owed))


def wallet_live_lots(wallet_id: int) -> list[LotView]:
    """The wallet's live lots (what a spend may draw from now), in spend order."""
    now = utcnow()
    query = sa.select(lots).where(lots.c.wallet_id == wallet_id, live(now)).order_by(*SPEND_ORDER)
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [_lot_view(row, now) for row in rows]


def wallet_expiring(wallet_id: int, notice_days: int) -> Expiring | None:
    """The credits of the wallet's live lots that expire soonest, if that is within
    `notice_days`: all live lots ending on that same (UTC) day count."""
    if notice_days <= 0:
        return None
    now = utcnow()
    query = (
        sa.select(lots.c.remaining, lots.c.expires_at)
        .where(
            lots.c.wallet_id == wallet_id,
            live(now),
            lots.c.expires_at.is_not(None),
            lots.c.expires_at <= now + timedelta(days=notice_days),
        )
        .order_by(lots.c.expires_at)
    )
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return None
    first = aware(rows[0].expires_at)
    credits = sum(int(r.remaining) for r in rows if aware(r.expires_at).date() == first.date())
    return Expiring(credits, first)
