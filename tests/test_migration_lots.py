"""Migration 0012 on real 0011 data, on PostgreSQL and on SQLite: lots rebuilt from each
user's ledger history, every balance kept, the audit clean, and the live ledger working on
what it built (holds released to the lots they drew from, what is owed paid first).

The history is written at revision 0011 with plain SQL, as the app at 0011 kept it: each
user's `users.credits` equals the sum of their ledger, unless a test says otherwise.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from creditapp import create_app, ledger
from creditapp.extensions import db
from creditapp.models import (
    CreditAdjustment,
    CreditLot,
    CreditLotDraw,
    CreditLotEntry,
    CreditPurchase,
    CreditSpend,
    Wallet,
)
from tests.conftest import app_settings
from tests.support.db import base_url, count_statements, throwaway_database
from tests.test_migration_downgrade import ledger_sums

WHEN = sa.DateTime(timezone=True)
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STRIPE_IDS = itertools.count(1)


@contextmanager
def fresh_app(database: str, **settings: object) -> Iterator[Flask]:
    """An app on an empty database of its own (`postgresql` or `sqlite`), nothing migrated."""
    url = base_url() if database == "postgresql" else "sqlite://"
    with throwaway_database(url) as database_url:
        app = create_app(app_settings(database_url, "http://127.0.0.1:9", **settings))
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def app_at_0011(request) -> Iterator[Flask]:
    """An app migrated to 0011: balances in `users.credits`, no wallets or lots yet."""
    with fresh_app(request.param) as app:
        upgrade(revision="0011")
        yield app


@pytest.fixture(params=["postgresql", "sqlite"])
def app_without_expiry(request) -> Iterator[Flask]:
    """An app at head whose new lots never expire, as the lots the migration rebuilds."""
    with fresh_app(request.param, SIGNUP_BONUS_EXPIRES_DAYS=0, PURCHASED_CREDITS_EXPIRE_DAYS=0) as app:
        upgrade()
        yield app


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def aware(when: datetime) -> datetime:
    """SQLite gives times back without their zone; every stored time is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def insert(table: str, **values: object) -> int:
    """One 0011 row written with plain SQL; returns its id."""
    times = [sa.bindparam(name, type_=WHEN) for name, value in values.items() if isinstance(value, datetime)]
    statement = sa.text(
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(f':{name}' for name in values)})"
        " RETURNING id"
    ).bindparams(*times)
    row_id = db.session.execute(statement, values).scalar_one()
    db.session.commit()
    return row_id


def user(name: str, credits: int) -> int:
    return insert(
        "users",
        google_sub=f"sub-{name}",
        email=f"{name}@example.com",
        name=name.title(),
        credits=credits,
        created_at=at(0),
    )


def purchase(user_id: int, credits: int, paid: int, minute: int, **columns: object) -> int:
    """A completed Checkout purchase (or, with `source`, a top-up; with `status`, not completed)."""
    n = next(STRIPE_IDS)
    columns.setdefault("status", "completed")
    if columns["status"] == "completed":
        columns.setdefault("completed_at", at(minute))
    return insert(
        "credit_purchases",
        user_id=user_id,
        stripe_checkout_session_id=None if columns.get("source") == "auto_recharge" else f"cs_{n}",
        stripe_payment_intent_id=f"pi_{n}",
        stripe_price_id="price_test",
        credits_purchased=credits,
        amount_paid=paid,
        currency="usd",
        created_at=at(minute) - timedelta(seconds=30),
        **columns,
    )


def spend(user_id: int, credits: int, status: str, minute: int) -> int:
    return insert(
        "credit_spends",
        user_id=user_id,
        feature_used="image",
        credits_spent=credits,
        status=status,
        created_at=at(minute),
        **({"settled_at": at(minute) + timedelta(seconds=5)} if status != "held" else {}),
    )


def adjustment(user_id: int, amount: int, reason: str, minute: int, **columns: object) -> int:
    return insert(
        "credit_adjustments", user_id=user_id, amount=amount, reason=reason, created_at=at(minute), **columns
    )


@dataclass(frozen=True)
class History:
    """The ids of the rows the 0011 history is made of."""

    admin: int
    alice: int
    alice_checkout: int
    alice_topup: int
    alice_captured: int
    alice_held: int
    alice_released: int
    alice_signup: int
    alice_grant: int
    alice_debit: int
    alice_refund: int
    bob: int
    bob_checkout: int
    carol: int
    carol_checkout: int


def write_history() -> History:
    """Three customers and a staff member, with everything the ledger at 0011 records."""
    admin = user("admin", 0)
    # Alice: bonus, a purchase, a capture, a top-up, a grant, a hold, a released hold, a
    # debit and a partial refund of the top-up. 100 + 500 - 150 + 300 + 50 - 80 - 20 - 250.
    alice = user("alice", 450)
    alice_signup = adjustment(alice, 100, "signup_bonus", 1)
    alice_checkout = purchase(alice, 500, 2000, 2)
    purchase(alice, 1000, 4000, 2, status="failed")  # never credited: no lot
    alice_captured = spend(alice, 150, "captured", 3)
    alice_topup = purchase(alice, 300, 1200, 4, source="auto_recharge", amount_refunded=1000)
    alice_grant = adjustment(alice, 50, "admin", 5, admin_user_id=admin, note="sorry for the outage")
    alice_held = spend(alice, 80, "held", 6)
    alice_released = spend(alice, 40, "released", 7)
    alice_debit = adjustment(alice, -20, "admin", 8, admin_user_id=admin, note="double grant")
    alice_refund = adjustment(alice, -250, "refund", 9, purchase_id=alice_topup, stripe_object_id="re_part")
    db.session.execute(
        sa.text("UPDATE credit_purchases SET credits_clawed_back = 250 WHERE id = :id"), {"id": alice_topup}
    )
    # Bob: spent most of a purchase, then all of it was refunded: 100 + 200 - 250 - 200.
    bob = user("bob", -150)
    adjustment(bob, 100, "signup_bonus", 1)
    bob_checkout = purchase(bob, 200, 1000, 2, amount_refunded=1000, credits_clawed_back=200)
    spend(bob, 250, "captured", 3)
    adjustment(bob, -200, "refund", 4, purchase_id=bob_checkout, stripe_object_id="re_full")
    # Carol: a chargeback took her purchase back, then she won the dispute: 400 - 100 - 400 + 400.
    carol = user("carol", 300)
    carol_checkout = purchase(carol, 400, 1600, 1)
    spend(carol, 100, "captured", 2)
    adjustment(carol, -400, "dispute", 3, purchase_id=carol_checkout, stripe_object_id="dp_1")
    adjustment(carol, 400, "dispute_won", 4, purchase_id=carol_checkout, stripe_object_id="dp_1")
    db.session.commit()
    return History(
        admin=admin,
        alice=alice,
        alice_checkout=alice_checkout,
        alice_topup=alice_topup,
        alice_captured=alice_captured,
        alice_held=alice_held,
        alice_released=alice_released,
        alice_signup=alice_signup,
        alice_grant=alice_grant,
        alice_debit=alice_debit,
        alice_refund=alice_refund,
        bob=bob,
        bob_checkout=bob_checkout,
        carol=carol,
        carol_checkout=carol_checkout,
    )


def lots_of(wallet_id: int) -> list[tuple]:
    """(source, category, amount, remaining, purchase_id, expires_at) of each lot, oldest first."""
    rows = db.session.execute(
        sa.select(
            CreditLot.source,
            CreditLot.category,
            CreditLot.amount,
            CreditLot.remaining,
            CreditLot.purchase_id,
            CreditLot.expires_at,
        )
        .where(CreditLot.wallet_id == wallet_id)
        .order_by(CreditLot.id)
    ).all()
    db.session.commit()
    return [tuple(row) for row in rows]


def lot_id(wallet_id: int, source: str) -> int:
    found = db.session.execute(
        sa.select(CreditLot.id).where(CreditLot.wallet_id == wallet_id, CreditLot.source == source)
    ).scalar_one()
    db.session.commit()
    return found


def draws_of(spend_id: int) -> list[tuple[int, int]]:
    """(lot id, credits) the spend drew, in the order drawn."""
    rows = db.session.execute(
        sa.select(CreditLotDraw.lot_id, CreditLotDraw.amount)
        .where(CreditLotDraw.spend_id == spend_id)
        .order_by(CreditLotDraw.id)
    ).all()
    db.session.commit()
    return [tuple(row) for row in rows]


def entries_of(wallet_id: int) -> list[tuple]:
    """(lot source, kind, amount, adjustment id, purchase id) of every lot entry of the wallet."""
    rows = db.session.execute(
        sa.select(
            CreditLot.source,
            CreditLotEntry.kind,
            CreditLotEntry.amount,
            CreditLotEntry.adjustment_id,
            CreditLotEntry.purchase_id,
        )
        .join(CreditLot, CreditLot.id == CreditLotEntry.lot_id)
        .where(CreditLot.wallet_id == wallet_id)
        .order_by(CreditLotEntry.id)
    ).all()
    db.session.commit()
    return [tuple(row) for row in rows]


def moving_rows(statements: list[str]) -> list[str]:
    """The statements that read or write ledger rows (not the schema, nor its reflection)."""
    return [
        statement
        for statement in statements
        if re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE)\b", statement, re.IGNORECASE)
        and not re.search(r"sqlite_(temp_)?master|_alembic_tmp_|alembic_version|pg_catalog", statement)
    ]


def wallet(wallet_id: int) -> tuple[int, int]:
    """(balance, owed) as stored."""
    row = db.session.execute(sa.select(Wallet.balance, Wallet.owed).where(Wallet.id == wallet_id)).one()
    db.session.commit()
    return int(row.balance), int(row.owed)


def test_lots_are_rebuilt_from_each_users_history_and_every_balance_is_kept(app_at_0011):
    history = write_history()
    before = ledger_sums()
    assert all(stored == summed for stored, summed in before.values())  # consistent at 0011

    upgrade()

    assert ledger_sums() == before
    assert ledger.audit() == []
    assert ledger.balance(history.alice) == ledger.Balance(credits=450, held=80, owed=0)
    assert ledger.balance(history.bob) == ledger.Balance(credits=-150, held=0, owed=150)
    assert ledger.balance(history.carol) == ledger.Balance(credits=300, held=0, owed=0)
    assert ledger.balance(history.admin) == ledger.Balance(credits=0, held=0, owed=0)
    assert wallet(history.alice) == (450, 0) and wallet(history.bob) == (-150, 150)
    # Alice's lots, in the order her credits arrived; none expires (granted without expiry).
    assert lots_of(history.alice) == [
        ("signup_bonus", "promotional", 100, 0, None, None),  # spent first: promotional
        ("purchase", "paid", 500, 400, history.alice_checkout, None),
        ("top_up", "paid", 300, 50, history.alice_topup, None),  # the refund took its own lot
        ("grant", "promotional", 50, 0, None, None),  # the hold took it before the older paid lot
    ]
    signup, checkout, grant = (lot_id(history.alice, s) for s in ("signup_bonus", "purchase", "grant"))
    assert draws_of(history.alice_captured) == [(signup, 100), (checkout, 50)]
    assert draws_of(history.alice_held) == [(grant, 50), (checkout, 30)]
    assert draws_of(history.alice_released) == []
    assert entries_of(history.alice) == [
        ("purchase", "debit", 20, history.alice_debit, None),
        ("top_up", "clawback", 250, history.alice_refund, history.alice_topup),
    ]
    # The bonus and the grant name their lots; the grant keeps who gave it and why.
    links = dict(
        db.session.execute(
            sa.select(CreditAdjustment.id, CreditAdjustment.lot_id).where(
                CreditAdjustment.user_id == history.alice
            )
        ).all()
    )
    assert links == {
        history.alice_signup: signup,
        history.alice_grant: grant,
        history.alice_debit: None,
        history.alice_refund: None,
    }
    granted = db.session.get(CreditLot, grant)
    assert (granted.granted_by, granted.reason) == (history.admin, "sorry for the outage")
    topup = db.session.get(CreditLot, lot_id(history.alice, "top_up"))
    assert aware(topup.effective_at) == at(4)  # when the top-up completed
    # Carol's won dispute gave her purchase's lot back what the chargeback took.
    assert lots_of(history.carol) == [("purchase", "paid", 400, 300, history.carol_checkout, None)]
    assert [entry[1:3] for entry in entries_of(history.carol)] == [("clawback", 300), ("clawback", -300)]
    assert not db.session.execute(sa.select(CreditLot.id).where(CreditLot.source == "migration")).first()


def test_a_hold_from_before_the_upgrade_releases_back_to_the_lots_it_drew_from(app_at_0011):
    history = write_history()
    upgrade()

    assert ledger.release(history.alice_held) is True

    assert ledger.balance(history.alice) == ledger.Balance(credits=530, held=0, owed=0)
    assert [(lot[0], lot[3]) for lot in lots_of(history.alice)] == [
        ("signup_bonus", 0),
        ("purchase", 430),  # its 30 came back
        ("top_up", 50),
        ("grant", 50),  # and the grant's 50
    ]
    assert ledger.audit() == []
    assert ledger.release(history.alice_held) is False  # released once only
    assert ledger.balance(history.alice).credits == 530


def test_a_negative_balance_becomes_owed_and_the_next_grant_pays_it_first(app_at_0011):
    history = write_history()
    upgrade()
    assert lots_of(history.bob) == [
        ("signup_bonus", "promotional", 100, 0, None, None),
        ("purchase", "paid", 200, 0, history.bob_checkout, None),
    ]
    # The refund took what was left of the purchase's own lot; the rest is owed.
    assert [entry[1:3] for entry in entries_of(history.bob)] == [("clawback", 50)]

    granted = ledger.grant(history.bob, 500, "goodwill", admin_user_id=history.admin)

    assert granted.balance == 350
    assert ledger.balance(history.bob) == ledger.Balance(credits=350, held=0, owed=0)
    assert wallet(history.bob) == (350, 0)
    grant = db.session.get(CreditLot, granted.lot_id)
    assert (grant.amount, grant.remaining) == (500, 350)
    assert [entry[:3] for entry in entries_of(history.bob)][-1] == ("grant", "owed", 150)
    assert ledger.audit() == []


def test_downgrade_to_0011_and_back_keeps_every_balance(app_at_0011):
    history = write_history()
    upgrade()
    ledger.release(history.alice_held)
    ledger.grant(history.bob, 500, "goodwill")
    balances = {uid: ledger.balance(uid).credits for uid in (history.alice, history.bob, history.carol)}
    assert balances == {history.alice: 530, history.bob: 350, history.carol: 300}
    db.session.commit()  # the reads' transaction would block the schema change on PostgreSQL

    downgrade(revision="0011")

    at_0011 = ledger_sums()
    assert {uid: at_0011[uid] for uid in balances} == {uid: (n, n) for uid, n in balances.items()}

    upgrade()

    assert {uid: ledger.balance(uid).credits for uid in balances} == balances
    assert wallet(history.bob) == (350, 0)  # the owed was paid before: nothing owed again
    assert ledger.audit() == []
    # Rebuilt again from the history: the released hold drew nothing, the grant is a lot.
    assert draws_of(history.alice_held) == []
    assert [(lot[0], lot[2], lot[3]) for lot in lots_of(history.bob)] == [
        ("signup_bonus", 100, 0),
        ("purchase", 200, 0),
        ("grant", 500, 350),
    ]


def test_history_that_does_not_add_up_keeps_the_balance_and_the_audit_clean(app_at_0011):
    # Dave's balance is 30 below his ledger, Erin's 20 above it (data the 0011 audit flagged);
    # Frank's hold is dated before the purchase whose credits it used (a slow transaction).
    dave = user("dave", 70)
    adjustment(dave, 100, "signup_bonus", 1)
    erin = user("erin", 120)
    erin_checkout = purchase(erin, 100, 500, 1)
    frank = user("frank", 40)
    frank_held = spend(frank, 60, "held", 1)
    frank_checkout = purchase(frank, 100, 500, 2)

    upgrade()

    assert {uid: ledger.balance(uid).credits for uid in (dave, erin, frank)} == {
        dave: 70,
        erin: 120,
        frank: 40,
    }
    assert ledger.audit() == []
    # The difference is recorded as an adjustment, and moved through the lots.
    notes = dict(
        db.session.execute(
            sa.select(CreditAdjustment.user_id, CreditAdjustment.amount).where(
                CreditAdjustment.note.like("Carried over by migration 0012%")
            )
        ).all()
    )
    assert notes == {dave: -30, erin: 20}
    assert lots_of(dave) == [("signup_bonus", "promotional", 100, 70, None, None)]
    assert [entry[1:3] for entry in entries_of(dave)] == [("debit", 30)]
    assert lots_of(erin) == [
        ("purchase", "paid", 100, 100, erin_checkout, None),
        ("migration", "paid", 20, 20, None, None),
    ]
    # Frank's hold drew from the purchase once it arrived, so releasing it gives them back there.
    assert draws_of(frank_held) == [(lot_id(frank, "purchase"), 60)]
    assert lots_of(frank) == [("purchase", "paid", 100, 40, frank_checkout, None)]
    ledger.release(frank_held)
    assert ledger.balance(frank).credits == 100
    assert lots_of(frank)[0][3] == 100
    assert ledger.audit() == []


def test_the_upgrade_reads_and_writes_in_batches_not_per_row(app_at_0011):
    customers = 300
    ids = [user(f"bulk{i}", 0) for i in range(customers)]
    costs = {uid: 30 + n % 7 for n, uid in enumerate(ids)}
    db.session.execute(
        sa.text(
            "INSERT INTO credit_adjustments (user_id, amount, reason, note, created_at)"
            " VALUES (:user_id, 100, 'signup_bonus', '', :at)"
        ).bindparams(sa.bindparam("at", type_=WHEN)),
        [{"user_id": uid, "at": at(1)} for uid in ids],
    )
    db.session.execute(
        sa.text(
            "INSERT INTO credit_spends (user_id, feature_used, credits_spent, status, created_at)"
            " VALUES (:user_id, 'image', :cost, 'captured', :at)"
        ).bindparams(sa.bindparam("at", type_=WHEN)),
        [{"user_id": uid, "cost": cost, "at": at(2)} for uid, cost in costs.items()],
    )
    db.session.execute(
        sa.text("UPDATE users SET credits = :credits WHERE id = :id"),
        [{"id": uid, "credits": 100 - cost} for uid, cost in costs.items()],
    )
    db.session.commit()
    assert all(stored == summed for stored, summed in ledger_sums().values())

    with count_statements(db.engine) as log:
        upgrade()

    # Besides the schema changes, a few reads and bulk writes move every customer's rows.
    assert len(moving_rows(log.statements)) < 30  # one statement per customer would be 300 and more
    assert ledger.audit() == []
    assert {uid: ledger.balance(uid).credits for uid in ids} == {
        uid: 100 - cost for uid, cost in costs.items()
    }
    drawn = db.session.execute(sa.select(sa.func.count()).select_from(CreditLotDraw)).scalar_one()
    assert drawn == customers


def paid_purchase(user_id: int, credits: int, paid: int, source: str = "checkout") -> int:
    """A purchase completed through the live ledger."""
    n = next(STRIPE_IDS)
    row = CreditPurchase(
        user_id=user_id,
        stripe_checkout_session_id=None if source == "auto_recharge" else f"cs_live_{n}",
        stripe_payment_intent_id=f"pi_live_{n}" if source == "auto_recharge" else None,
        stripe_price_id="price_test",
        credits_purchased=credits,
        amount_paid=paid,
        currency="usd",
        source=source,
    )
    db.session.add(row)
    db.session.commit()
    ledger.complete_purchase(row.id, f"pi_live_{n}", paid, "usd")
    return row.id


def built_lots(wallet_id: int) -> dict:
    """Everything the lots of a wallet record, with lots named by their place in the wallet."""
    lots = db.session.execute(
        sa.select(CreditLot).where(CreditLot.wallet_id == wallet_id).order_by(CreditLot.id)
    ).scalars()
    place = {}
    described = []
    for n, lot in enumerate(lots):
        place[lot.id] = n
        described.append(
            (lot.source, lot.category, lot.amount, lot.remaining, lot.purchase_id, lot.granted_by, lot.reason)
        )
    draws = db.session.execute(
        sa.select(CreditLotDraw.spend_id, CreditLotDraw.lot_id, CreditLotDraw.amount)
        .join(CreditSpend, CreditSpend.id == CreditLotDraw.spend_id)
        .where(CreditSpend.wallet_id == wallet_id, CreditSpend.status != "released", CreditLotDraw.amount > 0)
        .order_by(CreditLotDraw.spend_id, CreditLotDraw.id)
    ).all()
    entries = db.session.execute(
        sa.select(
            CreditLotEntry.lot_id, CreditLotEntry.kind, CreditLotEntry.amount, CreditLotEntry.purchase_id
        )
        .where(CreditLotEntry.lot_id.in_(place))
        .order_by(CreditLotEntry.id)
    ).all()
    stored = db.session.execute(sa.select(Wallet.balance, Wallet.owed).where(Wallet.id == wallet_id)).one()
    db.session.commit()
    return {
        "wallet": tuple(stored),
        "lots": described,
        "draws": [(spend_id, place[lot], amount) for spend_id, lot, amount in draws],
        "entries": [(place[lot], kind, amount, purchase_id) for lot, kind, amount, purchase_id in entries],
    }


def test_lots_rebuilt_from_the_history_are_the_lots_the_live_ledger_built(app_without_expiry):
    # Grace: spend order, a grant, a debit, a refund that failed, a dispute that was won.
    grace = ledger.register_user("sub-grace", "grace@example.com", "Grace", None, bonus=100)[0]
    checkout = paid_purchase(grace, 300, 1200)
    ledger.capture(ledger.hold(grace, "image", 120).spend_id)  # the bonus, then the purchase
    ledger.grant(grace, 50, "goodwill")
    ledger.release(ledger.hold(grace, "image", 30).spend_id)
    ledger.hold(grace, "image", 70)  # still held: the grant, then the purchase
    topup = paid_purchase(grace, 200, 800, source="auto_recharge")
    ledger.grant(grace, -40, "double grant")
    ledger.claw_back_refund(checkout, 600, "re_half")  # takes 150 from the purchase's lot
    ledger.claw_back_refund(checkout, 0, "re_half")  # the refund failed: they go back
    ledger.move_clawback(topup, ledger.HeldBack(0, 800), "dp_topup")  # a chargeback…
    ledger.move_clawback(topup, ledger.HeldBack(0, 0), "dp_topup")  # …that she won
    # Hank: a refund after he spent it all, lots that pay what he owes, the refund failing.
    hank = ledger.register_user("sub-hank", "hank@example.com", "Hank", None, bonus=0)[0]
    first = paid_purchase(hank, 100, 500)
    ledger.capture(ledger.hold(hank, "image", 100).spend_id)
    ledger.claw_back_refund(first, 500, "re_all")  # nothing left to take: 100 owed
    ledger.grant(hank, 30, "goodwill")  # pays 30 of it
    paid_purchase(hank, 200, 1000)  # pays the other 70
    ledger.claw_back_refund(first, 0, "re_all")  # the refund failed: the lots get it back
    assert ledger.balance(hank) == ledger.Balance(credits=230, held=0, owed=0)
    assert ledger.audit() == []
    live = {uid: built_lots(uid) for uid in (grace, hank)}
    assert [kind for _, kind, amount, _ in live[hank]["entries"] if amount < 0] == ["owed", "owed"]

    downgrade(revision="0011")
    upgrade()

    assert {uid: built_lots(uid) for uid in (grace, hank)} == live
    assert ledger.audit() == []
