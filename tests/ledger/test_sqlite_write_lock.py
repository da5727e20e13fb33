"""SQLite keeps the ledger's guarantees: every ledger write takes the write lock first.

SQLite ignores `SELECT … FOR UPDATE`, and a deferred transaction takes the write lock only
at its first write, so two clawbacks of one purchase could both read the old clawback before
either wrote: the refund was taken back twice while the balance audit stayed clean. These
races run on a file-backed SQLite database of their own (whatever TEST_DATABASE_URL says),
with real threads; the audit's clawback check runs on the suite's database.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from creditapp import create_app, ledger
from creditapp.extensions import db
from creditapp.models import (
    CreditAdjustment,
    CreditLot,
    CreditLotEntry,
    CreditPurchase,
    User,
    Wallet,
    personal_wallet,
)
from tests.conftest import app_settings
from tests.ledger.test_ledger import pending_purchase
from tests.support.threads import race

pytestmark = pytest.mark.smoke

READERS = 3  # clawbacks racing on one purchase


@pytest.fixture
def sqlite_app(tmp_path) -> Iterator[Flask]:
    """An app on a file-backed SQLite database of its own, migrated to head."""
    app = create_app(app_settings(f"sqlite:///{tmp_path / 'ledger.db'}", "http://127.0.0.1:9"))
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def completed_purchase(user_id: int, credits: int = 500, amount: int = 2000) -> int:
    """A purchase of `credits` paid `amount` cents, credited through the ledger."""
    purchase_id = pending_purchase(user_id, credits, amount, session=f"cs_{user_id}_{credits}")
    assert ledger.complete_purchase(purchase_id, f"pi_{purchase_id}", amount, "usd") is True
    return purchase_id


def new_user(credits: int = 500) -> int:
    user_id, _ = ledger.register_user("sub-racer", "racer@example.com", "Racer", None, bonus=credits)
    return user_id


def stored(user_id: int, purchase_id: int) -> tuple[int, int, list[int]]:
    """(balance, recorded clawback, clawback adjustment amounts) as committed."""
    db.session.expire_all()
    balance = db.session.get(User, user_id).credits
    clawed = db.session.get(CreditPurchase, purchase_id).credits_clawed_back
    amounts = (
        db.session.execute(
            sa.select(CreditAdjustment.amount)
            .where(CreditAdjustment.purchase_id == purchase_id)
            .order_by(CreditAdjustment.id)
        )
        .scalars()
        .all()
    )
    db.session.commit()
    return balance, clawed, list(amounts)


class ReadersMeet:
    """Hold each clawback right after it read the purchase, until all of them have read it.

    Without the write lock taken first, every racer reads the old clawback here before any
    of them writes. With it, the first racer waits alone (the others wait for the lock), the
    barrier times out, and each reads what the one before it committed.
    """

    def __init__(self, engine: sa.Engine, parties: int) -> None:
        self.engine = engine
        self.barrier = threading.Barrier(parties)

    def __enter__(self) -> ReadersMeet:
        sa.event.listen(self.engine, "after_cursor_execute", self.after_execute)
        return self

    def __exit__(self, *exc) -> None:
        sa.event.remove(self.engine, "after_cursor_execute", self.after_execute)

    def after_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM credit_purchases" in statement:
            with contextlib.suppress(threading.BrokenBarrierError):
                self.barrier.wait(timeout=1.5)


def test_overlapping_refund_events_of_one_purchase_take_the_refund_back_once(sqlite_app):
    user_id = new_user(500)
    purchase_id = completed_purchase(user_id)  # 500 credits for $20.00
    assert stored(user_id, purchase_id)[0] == 1000

    def refund_event(i: int) -> ledger.ClawbackMove:
        ticket = ledger.start_clawback_check(purchase_id)  # as the webhook does, before reading Stripe
        return ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=800, disputed=0), f"re_{i}", ticket)

    with ReadersMeet(db.engine, READERS):
        moves = race(sqlite_app, refund_event, READERS)

    assert all(isinstance(m, ledger.ClawbackMove) for m in moves), moves
    assert sum(m.moved for m in moves) == -200  # $8 of $20 → 200 of the 500 credits, once
    assert stored(user_id, purchase_id) == (800, 200, [-200])
    assert ledger.audit() == []


def test_overlapping_refunds_of_different_amounts_end_on_one_clawback_on_sqlite(sqlite_app):
    user_id = new_user(500)
    purchase_id = completed_purchase(user_id)
    states = [ledger.HeldBack(800, 0), ledger.HeldBack(800, 0), ledger.HeldBack(1200, 0)]

    with ReadersMeet(db.engine, 3):
        moves = race(sqlite_app, lambda i: ledger.claw_back_refund(purchase_id, states[i].refunded), 3)

    assert all(isinstance(m, int) for m in moves), moves
    balance, clawed, amounts = stored(user_id, purchase_id)
    # Applied one after another, the last one applied sets the target: 200 or 300 taken back.
    assert clawed in (200, 300)
    assert balance == 1000 - clawed
    assert -sum(amounts) == clawed
    assert ledger.audit() == []


def test_every_ledger_write_on_sqlite_begins_by_taking_the_write_lock(sqlite_app):
    user_id = new_user(500)
    purchase_id = completed_purchase(user_id)
    begins: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.upper().startswith("BEGIN"):
            begins.append(statement.upper())

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        ledger.claw_back_refund(purchase_id, 400)
        ledger.grant(user_id, 5, note="test")
        kept = ledger.hold(user_id, "image", 10)
        ledger.capture(kept.spend_id)
        ledger.release(ledger.hold(user_id, "image", 10).spend_id)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)

    # claw_back_refund reads, then moves (2); grant (1); hold, capture, hold, release (4).
    assert begins == ["BEGIN IMMEDIATE"] * 7
    assert ledger.audit() == []


def test_the_audit_lists_a_purchase_whose_recorded_clawback_disagrees_with_its_entries(
    app, make_user, runner
):
    user_id = make_user(email="ada@example.com", credits=500)
    purchase_id = completed_purchase(user_id)
    ledger.claw_back_refund(purchase_id, 800)  # 200 credits taken back, recorded as 200
    assert ledger.audit() == []

    # The double refund as it was: a second entry, the recorded clawback and balance unchanged by it.
    adjustment_id = db.session.execute(
        sa.insert(CreditAdjustment)
        .values(
            user_id=user_id,
            wallet_id=personal_wallet(user_id),
            amount=-200,
            reason="refund",
            purchase_id=purchase_id,
            note="twice",
        )
        .returning(CreditAdjustment.id)
    ).scalar_one()
    lot_id = db.session.execute(
        sa.select(CreditLot.id).where(CreditLot.purchase_id == purchase_id)
    ).scalar_one()
    db.session.execute(
        sa.update(CreditLot).where(CreditLot.id == lot_id).values(remaining=CreditLot.remaining - 200)
    )
    db.session.add(
        CreditLotEntry(
            lot_id=lot_id, kind="clawback", amount=200, adjustment_id=adjustment_id, purchase_id=purchase_id
        )
    )
    db.session.execute(
        sa.update(Wallet).where(Wallet.id == personal_wallet(user_id)).values(balance=Wallet.balance - 200)
    )
    db.session.commit()

    result = runner.invoke(args=["credits", "audit"])
    assert result.exit_code == 1, result.output  # every balance still equals its ledger sum
    assert f"purchase {purchase_id}" in result.stderr and "ada@example.com" in result.stderr
    assert "clawback recorded 200, clawback entries 400" in result.stderr
    assert ledger.audit() == [ledger.ClawbackMismatch(purchase_id, user_id, "ada@example.com", 200, 400)]
