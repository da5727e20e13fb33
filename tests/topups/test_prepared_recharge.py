"""The top-up trigger's `INSERT … ON CONFLICT` on the partial unique index keeps working prepared."""

from __future__ import annotations

import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.ledger import topups as ledger_topups
from creditapp.models import AutoRechargeSettings, CreditPurchase
from tests.platform.test_prepared_statements import RUNS, one_connection_app, prepared_statements

__all__ = ["one_connection_app"]


def test_every_decrease_below_the_threshold_starts_a_top_up_on_a_warm_connection(one_connection_app):
    one_connection_app.config["AUTO_RECHARGE_RETRY_MINUTES"] = 0
    user_id, _ = ledger.register_user("sub-warm", "warm@example.com", "Warm", None, bonus=500)
    db.session.add(
        AutoRechargeSettings(
            user_id=user_id,
            enabled=True,
            threshold=10_000,
            stripe_price_id="price_warm",
            pack_credits=100,
            pack_amount=500,
            currency="usd",
            monthly_cap=100,
            payment_method_id="pm_warm",
        )
    )
    db.session.commit()

    for _ in range(RUNS):
        ledger.hold(user_id, "image", 1)
        ledger.hold(user_id, "image", 1)  # one in flight already: nothing more starts
        [pending] = db.session.scalars(
            sa.select(CreditPurchase.id).where(CreditPurchase.status == "pending")
        ).all()
        db.session.commit()
        ledger_topups.cancel_topup(pending, attempted_at=None)

    started = db.session.execute(
        sa.select(sa.func.count()).select_from(CreditPurchase).where(CreditPurchase.source == "auto_recharge")
    ).scalar_one()
    db.session.commit()
    assert started == RUNS
    assert prepared_statements("ON CONFLICT") >= 1
    assert ledger.audit() == []
