"""Many first sign-ins on one pooled connection: each gets its bonus (prepared statements included)."""

from __future__ import annotations

from creditapp import ledger

SIGNUPS = 20


def test_every_signup_on_a_reused_connection_gets_its_bonus(app):
    # psycopg prepares a statement from its 6th run on a connection, and the pool hands it back.
    user_ids = [
        ledger.register_user(f"sub-many-{i}", f"many{i}@example.com", "M", None, 500)[0]
        for i in range(SIGNUPS)
    ]

    assert [ledger.balance(user_id).credits for user_id in user_ids] == [500] * SIGNUPS
    assert ledger.audit() == []
