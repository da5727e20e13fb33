"""Races against PostgreSQL with real threads: the ledger never overdraws or double-counts."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditSpend, User
from tests.support.threads import race

pytestmark = pytest.mark.usefixtures("app")


def balance_of(user_id: int) -> int:
    db.session.expire_all()
    return db.session.get(User, user_id).credits


def test_fifty_threads_holding_ten_from_a_hundred_exactly_ten_succeed(app, make_user):
    user_id = make_user(credits=100)

    results = race(app, lambda i: ledger.hold(user_id, "image", 10), 50)

    held = [r for r in results if isinstance(r, ledger.SpendResult)]
    refused = [r for r in results if isinstance(r, ledger.InsufficientCredits)]
    assert len(held) == 10
    assert len(refused) == 40
    assert balance_of(user_id) == 0
    assert sorted(r.balance for r in held) == list(range(0, 100, 10))
    assert ledger.audit() == []


def test_racing_holds_with_captures_and_releases_keep_the_ledger_exact(app, make_user):
    user_id = make_user(credits=100)
    rng = random.Random(7)
    choices = [rng.choice(["capture", "release"]) for _ in range(50)]

    def spend(i: int) -> str:
        result = ledger.hold(user_id, "image", 10)
        if choices[i] == "capture":
            ledger.capture(result.spend_id)
            return "captured"
        ledger.release(result.spend_id)
        return "released"

    outcomes = race(app, spend, 50)

    captured = outcomes.count("captured")
    assert captured <= 10
    assert balance_of(user_id) == 100 - 10 * captured
    assert balance_of(user_id) >= 0
    statuses = db.session.execute(sa.select(CreditSpend.status)).scalars().all()
    assert "held" not in statuses
    assert statuses.count("captured") == captured
    assert ledger.audit() == []


def test_one_idempotency_key_used_twice_charges_once(app, make_user):
    user_id = make_user(credits=100)

    first = ledger.hold(user_id, "image", 10, idempotency_key="key-1")
    again = ledger.hold(user_id, "image", 10, idempotency_key="key-1")

    assert again.spend_id == first.spend_id
    assert again.replayed and not first.replayed
    assert balance_of(user_id) == 90


def test_one_idempotency_key_racing_from_twenty_threads_charges_once(app, make_user):
    user_id = make_user(credits=100)

    results = race(app, lambda i: ledger.hold(user_id, "image", 10, idempotency_key="same"), 20)

    assert all(isinstance(r, ledger.SpendResult) for r in results), results
    assert len({r.spend_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert balance_of(user_id) == 90
    assert ledger.audit() == []


def test_same_key_from_two_users_are_separate_spends(app, make_user):
    alice, bob = make_user(credits=50), make_user(credits=50)

    a = ledger.hold(alice, "image", 10, idempotency_key="shared")
    b = ledger.hold(bob, "image", 10, idempotency_key="shared")

    assert a.spend_id != b.spend_id
    assert balance_of(alice) == balance_of(bob) == 40


def test_two_first_sign_ins_racing_create_one_user_with_one_bonus(app):
    results = race(app, lambda i: ledger.register_user("sub-race", "Race@Example.com", "Race", None, 500), 8)

    assert all(isinstance(r, tuple) for r in results), results
    assert len({user_id for user_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    user = db.session.execute(sa.select(User)).scalar_one()
    assert user.credits == 500
    assert user.email == "race@example.com"
    bonuses = db.session.execute(
        sa.select(sa.func.count()).where(CreditAdjustment.reason == "signup_bonus")
    ).scalar_one()
    assert bonuses == 1


def test_racing_signup_bonus_grants_pay_once(app, make_user):
    user_id = make_user(credits=0)

    results = race(app, lambda i: ledger.grant_signup_bonus(user_id, 500), 10)

    assert results.count(True) == 1
    assert results.count(False) == 9
    assert balance_of(user_id) == 500
    assert ledger.audit() == []


def test_capture_and_release_racing_on_one_hold_settle_it_once(app, make_user):
    user_id = make_user(credits=100)
    spend = ledger.hold(user_id, "image", 30)

    results = race(app, lambda i: (ledger.capture if i % 2 else ledger.release)(spend.spend_id), 10)

    assert results.count(True) == 1
    final = db.session.get(CreditSpend, spend.spend_id).status
    assert balance_of(user_id) == (70 if final == "captured" else 100)
    assert ledger.audit() == []
