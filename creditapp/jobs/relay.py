"""The one after-commit relay: outbox rows a committed transaction wrote go to the money queue.

The ledger writes what a balance change sets off as outbox rows (`ledger.outbox`: a pending
top-up, an e-mail) and `platform.transactions` hands their ids here once the transaction
has committed; `create_app` wires this function in (`init_app`). A message lost between the
commit and the queue is found again by `never_handed_over`, which `flask jobs sweep` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from creditapp.jobs.queue import current_queue
from creditapp.ledger.outbox import EMAIL, TOPUP
from creditapp.models import CreditPurchase, Notification
from creditapp.platform import transactions
from creditapp.platform.transactions import Handoff

# The money queue's task for each kind of outbox row (task short names of `money_tasks`).
TASKS = {TOPUP: "charge_topup", EMAIL: "send_email"}
BATCH = 1000

purchases = CreditPurchase.__table__
notifications = Notification.__table__


def hand_over(handoffs: Sequence[Handoff]) -> None:
    """Queue one task per committed outbox row (a broker that is down leaves it to the sweep)."""
    queue = current_queue()
    for kind, row_id in handoffs:
        queue.enqueue_task(TASKS[kind], row_id)


def init_app(app: Flask) -> None:
    """Make `hand_over` this app's after-commit relay."""
    transactions.set_relay(app, hand_over)


def never_handed_over(
    session: sa.orm.Session, older_than: timedelta, now: datetime, stale_before: datetime
) -> list[sa.Row]:
    """Outbox rows still waiting after `older_than`, every kind in one query: (kind, id, stale).

    A top-up still pending (`stale` when created before `stale_before`), an e-mail still
    pending, or one whose sender's lease ran out.
    """
    cutoff = now - older_than
    topups = (
        sa.select(
            sa.literal(TOPUP).label("kind"),
            purchases.c.id,
            (purchases.c.created_at < stale_before).label("stale"),
        )
        .where(
            purchases.c.source == "auto_recharge",
            purchases.c.status == "pending",
            purchases.c.created_at < cutoff,
        )
        .order_by(purchases.c.id)
        .limit(BATCH)
        .subquery()
    )
    emails = (
        sa.select(sa.literal(EMAIL).label("kind"), notifications.c.id, sa.false().label("stale"))
        .where(
            sa.or_(
                sa.and_(notifications.c.status == "pending", notifications.c.created_at < cutoff),
                sa.and_(notifications.c.status == "sending", notifications.c.lease_until < now),
            )
        )
        .order_by(notifications.c.id)
        .limit(BATCH)
        .subquery()
    )
    waiting = sa.union_all(sa.select(topups), sa.select(emails)).subquery()
    return list(session.execute(sa.select(waiting).order_by(waiting.c.kind.desc(), waiting.c.id)).all())
