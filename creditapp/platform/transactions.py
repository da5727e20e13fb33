"""Transactions a reader can point at: `write()` for a transaction of the ledger, `read()` for lookups.

`write()` yields the session, commits on its last line and rolls back on any error. The
outbox rows written inside it (`stage`: a pending top-up to charge, an e-mail to send) are
handed, after the commit and only then, to the relay `create_app` wired (`set_relay`: the
job queue). `read()` yields the session for lookups and ends their transaction, so no
connection sits idle in a transaction while Stripe answers or a page renders. The helpers
that look rows up never commit or roll back themselves: their caller's `read()` or
`write()` does.

A few hot paths run on a Core connection of their own (a hold: one round trip per
statement, no ORM); they commit it themselves and then call `hand_over` with what they
wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask, current_app

from creditapp.extensions import db

# (kind, row id): what a queue task needs to pick an outbox row up.
Handoff = tuple[str, int]
Relay = Callable[[Sequence[Handoff]], None]

RELAY_KEY = "creditapp.relay"
STAGED_KEY = "creditapp.outbox"


def set_relay(app: Flask, relay: Relay) -> None:
    """The one after-commit relay of this app: it hands committed outbox rows to the queue."""
    app.extensions[RELAY_KEY] = relay


def hand_over(handoffs: Iterable[Handoff]) -> None:
    """After a commit: give the outbox rows it wrote to the relay (one it loses waits for the sweep)."""
    handoffs = list(handoffs)
    if handoffs:
        current_app.extensions[RELAY_KEY](handoffs)


def stage(session: sa.orm.Session, handoffs: Iterable[Handoff]) -> None:
    """Inside `write()`: outbox rows to hand over once this transaction has committed."""
    session.info.setdefault(STAGED_KEY, []).extend(handoffs)


@contextmanager
def write() -> Iterator[sa.orm.Session]:
    """A transaction of the ledger: commit at the end, roll back on error, then hand over its outbox."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop(STAGED_KEY, None)
        raise
    hand_over(session.info.pop(STAGED_KEY, []))


@contextmanager
def read() -> Iterator[sa.orm.Session]:
    """A read: the block's lookups, then their transaction ends (there is nothing to commit)."""
    session = db.session
    try:
        yield session
    finally:
        session.rollback()
