"""Every ledger statement keeps working once psycopg prepares it on a warm connection.

psycopg prepares a statement on the server after `prepare_threshold` (5) executions on
one connection, and PostgreSQL switches a prepared statement to a generic plan after
five more. A generic plan knows nothing of its parameters, so an `ON CONFLICT … WHERE
reason = $1` can no longer be matched to the partial unique index it names. These tests
run each statement well past both thresholds on a single pooled connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from creditapp import create_app, ledger
from creditapp.accounts import users as auth_service
from creditapp.extensions import db
from tests.conftest import app_settings
from tests.support.db import truncate_all
from tests.support.system import missing

RUNS = 25  # > psycopg's 5 executions before preparing + PostgreSQL's 5 custom plans


@pytest.fixture
def one_connection_app(database_url: str, emulator) -> Iterator[Flask]:
    """An app whose pool holds exactly one connection, so every statement reuses it."""
    if not database_url.startswith("postgresql"):
        missing("prepared statements are a PostgreSQL matter: run with TEST_DATABASE_URL on PostgreSQL")
    settings = app_settings(
        database_url,
        emulator.base_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 5},
    )
    app = create_app(settings)
    with app.app_context():
        truncate_all(db.engine)
        yield app
        db.session.remove()
        db.engine.dispose()


def prepared_statements(fragment: str) -> int:
    """How many statements containing `fragment` this (single) connection has prepared."""
    with db.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :pattern"),
            {"pattern": f"%{fragment}%"},
        ).scalar_one()


def test_sign_ups_keep_granting_the_bonus_after_the_connection_prepares_the_insert(one_connection_app):
    created = []
    for n in range(RUNS):
        profile = auth_service.GoogleProfile(f"sub-{n}", f"warm{n}@example.com", "Warm", None, True)
        outcome = auth_service.sign_in(profile, bonus=500)
        created.append(outcome.created)

    assert created == [True] * RUNS
    assert prepared_statements("ON CONFLICT") >= 1  # the statement did run prepared
    assert ledger.audit() == []
    bonuses = db.session.execute(
        sa.text("SELECT count(*), sum(amount) FROM credit_adjustments WHERE reason = 'signup_bonus'")
    ).one()
    assert tuple(bonuses) == (RUNS, 500 * RUNS)


def test_repeated_bonus_grants_stay_idempotent_on_a_warm_connection(one_connection_app):
    user_ids = [
        ledger.register_user(f"sub-{n}", f"g{n}@example.com", "G", None, bonus=0)[0] for n in range(RUNS)
    ]

    first = [ledger.grant_signup_bonus(user_id, 500) for user_id in user_ids]
    again = [ledger.grant_signup_bonus(user_id, 500) for user_id in user_ids]

    assert first == [True] * RUNS
    assert again == [False] * RUNS
    assert ledger.audit() == []


def test_keyed_holds_and_stale_releases_work_on_a_warm_connection(one_connection_app):
    user_id, _ = ledger.register_user("sub-keys", "keys@example.com", "Keys", None, bonus=500)

    held = [ledger.hold(user_id, "image", 5, idempotency_key=f"key-{n}") for n in range(RUNS)]
    replayed = [ledger.hold(user_id, "image", 5, idempotency_key=f"key-{n}") for n in range(RUNS)]
    released = [ledger.release_stale(timedelta(0)) for _ in range(RUNS)]

    assert [r.replayed for r in held] == [False] * RUNS
    assert [r.spend_id for r in replayed] == [r.spend_id for r in held]
    assert sum(len(batch) for batch in released) == RUNS
    assert ledger.balance(user_id) == ledger.Balance(credits=500, held=0)
    assert ledger.audit() == []
