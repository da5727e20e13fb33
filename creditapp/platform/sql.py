"""SQL helpers shared by the ledger and the webhook store."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from creditapp.extensions import db


def conflict_insert(table: sa.Table) -> sa.Insert:
    """A dialect insert that supports ON CONFLICT (PostgreSQL and SQLite)."""
    dialect = db.engine.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
