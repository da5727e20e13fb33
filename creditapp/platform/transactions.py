"""Transactions a reader can point at: `write()` for a transaction of the ledger, `read()` for lookups.

`write()` yields the session, commits on its last line and rolls back on any error. The
outbox rows written inside it (`stage`: a pending top-up to charge, an e-mail to send) are
handed, after the commit and only then, to the relay `create_app` wired (`set_relay`: the
job queue). `read()` yields the session for lookups and ends their transaction, so no
connection sits idle in a transaction while Stripe answers or a page renders. The helpers
that look rows up never commit or roll back themselves: their caller's `read()` or
`write()` does.

A few hot paths run on a Core connection of their own (a hold: one round trip per
statement, no ORM); they call `take_write_lock` first, commit it themselves and then call
`hand_over` with what they wrote.

On SQLite (`make run`), `SELECT … FOR UPDATE` locks nothing and a transaction takes the
database's write lock only at its first write, so two writers could both read a row before
either wrote it. Every ledger transaction therefore starts with `take_write_lock`: on SQLite
`BEGIN IMMEDIATE`, which waits (the connection's busy timeout, `SQLITE_BUSY_TIMEOUT_MS`) for
the one writer before it; on PostgreSQL nothing at all, its row locks already order writers.
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


def take_write_lock(connection: sa.Connection) -> None:
    """On SQLite: take the database's write lock now, before the transaction reads anything.

    `BEGIN IMMEDIATE` waits for the writer holding it (up to the busy timeout) rather than
    failing. A connection already inside a transaction of the driver has written, so it holds
    the lock already (pysqlite begins only at a write). No statement at all on PostgreSQL.
    """
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def write() -> Iterator[sa.orm.Session]:
    """A transaction of the ledger: commit at the end, roll back on error, then hand over its outbox.

    On SQLite it holds the database's write lock from its start (`take_write_lock`).
    """
    session = db.session
    try:
        if session.get_bind().dialect.name == "sqlite":
            take_write_lock(session.connection())
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
