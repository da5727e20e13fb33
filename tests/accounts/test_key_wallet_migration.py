"""Migration 0017 on real data, on PostgreSQL and on SQLite: keys made without a wallet get
their maker's own, the column becomes required, and it rolls back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from creditapp import create_app, ledger
from creditapp.extensions import db
from tests.conftest import app_settings
from tests.support.db import base_url, throwaway_database


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_app(request) -> Iterator[Flask]:
    """An app on an empty database of its own, nothing migrated yet."""
    url = base_url() if request.param == "postgresql" else "sqlite://"
    with throwaway_database(url) as database_url:
        app = create_app(app_settings(database_url, "http://127.0.0.1:9"))
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()


def add_key(user_id: int, prefix: str) -> None:
    """A key as the code before 0017 wrote it: no wallet."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes, created_at)"
                " VALUES (:user, 'old', :prefix, :hash, 'spend', CURRENT_TIMESTAMP)"
            ),
            {"user": user_id, "prefix": prefix, "hash": "0" * 64},
        )


def key_wallets() -> dict[str, tuple[int | None, int]]:
    """prefix -> (the key's wallet, its maker's own wallet)."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT k.prefix, k.wallet_id, u.wallet_id FROM api_keys k JOIN users u ON u.id = k.user_id"
            )
        ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_keys_made_without_a_wallet_get_their_makers_and_the_wallet_becomes_required(fresh_app):
    upgrade(revision="0016")
    first = ledger.register_user("sub-a", "a@example.com", "A", None, bonus=10)[0]
    second = ledger.register_user("sub-b", "b@example.com", "B", None, bonus=10)[0]
    add_key(first, "ca_test_000000000001")
    add_key(second, "ca_test_000000000002")

    upgrade(revision="0017")

    found = key_wallets()
    assert found["ca_test_000000000001"][0] == found["ca_test_000000000001"][1] is not None
    assert found["ca_test_000000000002"][0] == found["ca_test_000000000002"][1] is not None
    with pytest.raises(sa.exc.IntegrityError):
        add_key(first, "ca_test_000000000003")  # a key without a wallet is refused now

    downgrade(revision="0016")
    add_key(first, "ca_test_000000000004")  # and allowed again once rolled back
    assert key_wallets()["ca_test_000000000004"][0] is None
