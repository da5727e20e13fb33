"""Create and drop the per-run test database; count statements."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TABLES = [
    "invitations",
    "memberships",
    "organizations",
    "admin_actions",
    "reconcile_runs",
    "feature_jobs",
    "revoked_sessions",
    "stripe_events",
    "credit_lot_entries",
    "credit_lot_draws",
    "credit_adjustments",
    "credit_spends",
    "api_keys",
    "notifications",
    "auto_recharge_settings",
    "credit_lots",
    "credit_purchases",
    "users",
    "wallets",
]


def base_url() -> str:
    """The server the suite runs against (TEST_DATABASE_URL)."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_URL)


def _admin_conninfo(url: sa.URL) -> str:
    return url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


@contextmanager
def throwaway_database(url_text: str | None = None) -> Iterator[str]:
    """Create a uniquely named database for this run and drop it afterwards."""
    url = make_url(url_text or base_url())
    if url.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'creditapp-test.db'}"
        return
    name = f"creditapp_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_conninfo(url)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL at {url.host}:{url.port or 5432} does not answer ({exc}); "
            "the suite needs it (set TEST_DATABASE_URL)"
        ) from exc
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(engine: sa.Engine) -> None:
    """Empty every table between tests."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(sa.text(f"DELETE FROM {table}"))


@dataclass
class StatementLog:
    """SQL statements seen on an engine while the counter was active."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many statements ran."""
        return len(self.statements)


@contextmanager
def count_statements(engine: sa.Engine) -> Iterator[StatementLog]:
    """Record every statement the engine executes inside the block."""
    log = StatementLog()

    def record(conn, cursor, statement, parameters, context, executemany):
        log.statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
