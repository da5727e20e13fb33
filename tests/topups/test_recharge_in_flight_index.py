"""The database itself allows one automatic top-up in flight per user, not the code above it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from creditapp.extensions import db
from creditapp.models import CreditPurchase


def _recharge(user_id: int, n: int, status: str = "pending", source: str = "auto_recharge") -> CreditPurchase:
    return CreditPurchase(
        user_id=user_id,
        stripe_payment_intent_id=f"pi_in_flight_{user_id}_{n}",
        stripe_price_id="price_test",
        credits_purchased=500,
        amount_paid=2000,
        currency="usd",
        status=status,
        source=source,
    )


def _purchases(user_id: int) -> int:
    query = sa.select(sa.func.count()).select_from(CreditPurchase).where(CreditPurchase.user_id == user_id)
    return db.session.execute(query).scalar_one()


@pytest.mark.smoke
def test_a_second_pending_top_up_for_a_user_is_refused_by_the_database(app, make_user):
    user = make_user()
    db.session.add(_recharge(user, 1))
    db.session.commit()

    db.session.add(_recharge(user, 2))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()

    assert _purchases(user) == 1


@pytest.mark.smoke
def test_the_index_leaves_settled_top_ups_checkouts_and_other_users_alone(app, make_user):
    user, other = make_user(), make_user()
    db.session.add_all(
        [
            _recharge(user, 1),
            _recharge(user, 2, status="completed"),
            _recharge(user, 3, status="failed"),
            _recharge(user, 4, source="checkout"),
            _recharge(other, 5),
        ]
    )
    db.session.commit()

    assert (_purchases(user), _purchases(other)) == (4, 1)
