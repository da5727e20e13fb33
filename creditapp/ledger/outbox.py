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

from creditapp.models import Membership, Notification, Organization, User, utcnow
from creditapp.platform.sql import conflict_insert
from creditapp.platform.transactions import Handoff

TOPUP = "topup"
EMAIL = "email"

notifications = Notification.__table__
users = User.__table__
organizations = Organization.__table__
memberships = Membership.__table__
# Who hears about an organization's wallet (its low balance, its top-ups): its managers.
MANAGERS = ("owner", "admin")


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
    wallet_id: int | None = None,
) -> int | None:
    """Inside the caller's transaction: write one e-mail to the outbox; its id, or None if
    an e-mail with this dedupe key exists already. `deferred`: kept until a top-up decides it.
    `wallet_id`: the wallet whose balance it is about (a top-up of it decides a deferred one).

    Subject and bodies stay empty until the sender composes them from `kind` and `payload`.
    """
    return conn.execute(
        conflict_insert(notifications)
        .values(
            kind=kind,
            user_id=user_id,
            wallet_id=wallet_id,
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


@dataclass(frozen=True)
class Recipients:
    """Who hears about a wallet: its person, or its organization's owners and admins (each once)."""

    people: list[tuple[int, str]]  # (user id, e-mail address)
    org_id: int | None = None
    org_name: str | None = None

    def dedupe_key(self, base: str, user_id: int) -> str:
        """The e-mail's dedupe key for one recipient: `base` for a person's own wallet, one
        key per recipient for an organization's."""
        return base if self.org_id is None else f"{base}:{user_id}"

    def payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload, naming the organization when the wallet is one's (the e-mail says so)."""
        if self.org_id is None:
            return payload
        return {**payload, "org_id": self.org_id, "organization": self.org_name}


def recipients(conn: sa.Connection | sa.orm.Session, wallet_id: int) -> Recipients:
    """Inside the caller's transaction: who the e-mails about this wallet go to. Plain members
    of an organization never get them."""
    person = conn.execute(sa.select(users.c.id, users.c.email).where(users.c.wallet_id == wallet_id)).first()
    if person is not None:
        return Recipients([(person.id, person.email)])
    org = conn.execute(
        sa.select(organizations.c.id, organizations.c.name).where(organizations.c.wallet_id == wallet_id)
    ).first()
    if org is None:
        return Recipients([])
    managers = conn.execute(
        sa.select(users.c.id, users.c.email)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.org_id == org.id, memberships.c.role.in_(MANAGERS))
        .order_by(users.c.id)
    ).all()
    return Recipients([(row.id, row.email) for row in managers], org.id, org.name)
