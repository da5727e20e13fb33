"""What a balance change sets off, written as outbox rows in the ledger's own transaction.

Two kinds, each a row a queue task picks up by its id:

- `topup`: a pending automatic top-up, a `credit_purchases` row with `source='auto_recharge'`
  (written by `triggers`), charged by the top-up task;
- `email`: a `notifications` row (`write_email`), sent by the e-mail task. Only the facts are
  written here (the kind, the address, the payload); the subject and bodies are composed from
  them when the e-mail is sent.

After the commit `platform.transactions` hands the ids to the relay `create_app` wired (the
job queue); `flask jobs sweep` re-queues the rows that were never handed over. So the
ledger starts work above it without importing any of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from creditapp.models import Notification, utcnow
from creditapp.platform.sql import conflict_insert
from creditapp.platform.transactions import Handoff

TOPUP = "topup"
EMAIL = "email"

notifications = Notification.__table__


@dataclass
class Outbox:
    """The outbox rows one transaction wrote: top-ups to charge, e-mails to send."""

    topups: list[int] = field(default_factory=list)
    emails: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.topups or self.emails)

    def add(self, other: Outbox) -> None:
        """Merge another part of the transaction's rows into these."""
        self.topups += other.topups
        self.emails += other.emails

    def handoffs(self) -> list[Handoff]:
        """What the relay hands to the queue after the commit: top-ups first, then e-mails."""
        return [(TOPUP, row_id) for row_id in self.topups] + [(EMAIL, row_id) for row_id in self.emails]


def write_email(
    conn: sa.Connection | sa.orm.Session,
    kind: str,
    user_id: int,
    to: str,
    dedupe_key: str,
    payload: dict[str, Any],
    status: str = "pending",
) -> int | None:
    """Inside the caller's transaction: write one e-mail to the outbox; its id, or None if
    an e-mail with this dedupe key exists already. `deferred`: kept until a top-up decides it.

    Subject and bodies stay empty until the sender composes them from `kind` and `payload`.
    """
    return conn.execute(
        conflict_insert(notifications)
        .values(
            kind=kind,
            user_id=user_id,
            dedupe_key=dedupe_key,
            to_address=to,
            subject="",
            body_text="",
            body_html="",
            payload=payload,
            status=status,
            attempts=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(notifications.c.id)
    ).scalar_one_or_none()
