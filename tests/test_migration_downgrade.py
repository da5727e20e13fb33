"""Rolling migration 0005 back and forth on real data, on PostgreSQL and on SQLite.

Since 0005 one refund may own several ledger moves (a refund that failed takes credits and
gives them back), which 0003's unique (reason, stripe_object_id) forbids. Each database is
a throwaway one of its own, so the shared test database keeps its schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from creditapp import create_app, ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase
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


def ledger_sums() -> dict[int, tuple[int, int]]:
    """Each user's balance and the sum of their ledger, read with plain SQL (any revision):
    `users.credits` before 0012, the personal wallet's balance since."""
    stored = (
        "(SELECT w.balance FROM wallets w WHERE w.id = u.wallet_id)"
        if sa.inspect(db.engine).has_table("wallets")
        else "u.credits"
    )
    rows = db.session.execute(
        sa.text(
            f"SELECT u.id, {stored},"
            " COALESCE((SELECT SUM(p.credits_purchased) FROM credit_purchases p"
            "   WHERE p.user_id = u.id AND p.status = 'completed'), 0)"
            " - COALESCE((SELECT SUM(s.credits_spent) FROM credit_spends s"
            "   WHERE s.user_id = u.id AND s.status IN ('held', 'captured')), 0)"
            " + COALESCE((SELECT SUM(a.amount) FROM credit_adjustments a WHERE a.user_id = u.id), 0)"
            " FROM users u ORDER BY u.id"
        )
    ).all()
    db.session.commit()
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


def refund_moves(refund_id: str) -> list[int]:
    found = db.session.execute(
        sa.text("SELECT amount FROM credit_adjustments WHERE stripe_object_id = :id ORDER BY id"),
        {"id": refund_id},
    ).scalars()
    moves = [int(amount) for amount in found]
    db.session.commit()
    return moves


def test_migration_0005_rolls_back_and_forward_on_a_refund_that_failed(fresh_app):
    upgrade()
    user = ledger.register_user("sub-rollback", "rollback@example.com", "Roll Back", None, bonus=500)[0]
    purchase = CreditPurchase(
        user_id=user,
        stripe_checkout_session_id="cs_rollback",
        stripe_price_id="price_500",
        credits_purchased=500,
        amount_paid=2000,
        currency="usd",
    )
    db.session.add(purchase)
    db.session.commit()
    purchase_id = purchase.id
    ledger.complete_purchase(purchase_id, "pi_rollback", 2000, "usd")
    ledger.claw_back_refund(purchase_id, 2000, "re_failed")  # the refund takes 500 credits…
    ledger.claw_back_refund(purchase_id, 0, "re_failed")  # …then fails and gives them back
    ledger.claw_back_refund(purchase_id, 500, "re_partial")  # a partial refund that stands
    ledger.hold(user, "image", 20)
    assert refund_moves("re_failed") == [-500, 500]
    before = ledger_sums()
    assert before == {user: (855, 855)}

    downgrade(revision="0003")

    assert ledger_sums() == before  # no credit created or lost by the merge
    assert refund_moves("re_failed") == [0] and refund_moves("re_partial") == [-125]
    credits_refunded = db.session.execute(
        sa.text("SELECT credits_refunded FROM credit_purchases WHERE id = :id"), {"id": purchase_id}
    ).scalar_one()
    db.session.commit()
    assert credits_refunded == 125  # what 0003's code expects: credits refunds took
    # 0003's uniqueness is back.
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO credit_adjustments (user_id, amount, reason, purchase_id,"
                " stripe_object_id, note, created_at)"
                " VALUES (:user, -1, 'refund', :purchase, 're_partial', '', CURRENT_TIMESTAMP)"
            ),
            {"user": user, "purchase": purchase_id},
        )

    upgrade()

    assert ledger_sums() == before
    assert ledger.audit() == []
    ledger.claw_back_refund(purchase_id, 1000, "re_second")  # clawbacks still converge afterwards
    assert ledger.balance(user).credits == 855 - 125
    assert ledger.audit() == []
