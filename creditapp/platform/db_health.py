"""Keep pooled PostgreSQL connections honest without a ping on every checkout.

SQLAlchemy's `pool_pre_ping` costs three round trips (BEGIN, SELECT 1, ROLLBACK) on
every checkout, and the ledger checks a connection out once per operation: it doubled
the round trips of a hold+capture. Instead, a connection is pinged only when it sat
idle in the pool for a while (a restart or a failover most likely happened then);
a connection that fails anyway raises a disconnect error, on which SQLAlchemy throws
away every pooled connection older than it, so one request sees a 503 and the next
ones reconnect.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Flask

from creditapp.extensions import db

IDLE_PING_SECONDS = 5.0


def init_app(app: Flask) -> None:
    """Install the idle ping on the app's PostgreSQL engine."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql":
        return
    idle_after = float(app.config.get("DB_IDLE_PING_SECONDS", IDLE_PING_SECONDS))
    sa.event.listen(engine, "checkin", _remember_checkin)
    sa.event.listen(engine, "checkout", _ping_if_idle(idle_after))


def _remember_checkin(dbapi_connection, record) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(idle_after: float):
    def ping(dbapi_connection, record, proxy) -> None:
        idle = time.monotonic() - record.info.get("checked_in_at", time.monotonic())
        if idle < idle_after:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:
            # The documented way to ask the pool for a fresh connection (it retries).
            raise sa.exc.DisconnectionError("stale pooled connection") from exc

    return ping


def is_transient(exc: BaseException) -> bool:
    """A database failure a retry can fix (unreachable, timed out), not a bug or bad data."""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.PendingRollbackError):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)
