"""Ledger rules: purchases, refunds, disputes, grants, stale holds, audit, and faults."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditPurchase, CreditSpend, User, Wallet, utcnow

pytestmark = pytest.mark.usefixtures("app")


def balance_of(user_id: int) -> int:
    db.session.expire_all()
    return db.session.get(User, user_id).credits


def pending_purchase(user_id: int, credits: int = 500, amount: int = 2000, session: str = "cs_1") -> int:
    purchase = CreditPurchase(
        user_id=user_id,
        stripe_checkout_session_id=session,
        stripe_price_id="price_500",
        credits_purchased=credits,
        amount_paid=amount,
        currency="usd",
        status="pending",
    )
    db.session.add(purchase)
    db.session.commit()
    return purchase.id


@pytest.mark.smoke
def test_hold_capture_and_release_move_the_balance(make_user):
    user_id = make_user(credits=100)

    kept = ledger.hold(user_id, "image", 20)
    returned = ledger.hold(user_id, "image", 5)
    assert ledger.balance(user_id) == ledger.Balance(credits=75, held=25)

    assert ledger.capture(kept.spend_id) is True
    assert ledger.release(returned.spend_id) is True
    assert ledger.release(returned.spend_id) is False  # settling twice changes nothing
    assert ledger.capture(returned.spend_id) is False

    assert ledger.balance(user_id) == ledger.Balance(credits=80, held=0)
    assert ledger.audit() == []


@pytest.mark.smoke
def test_hold_beyond_the_balance_is_refused_and_charges_nothing(make_user):
    user_id = make_user(credits=9)

    with pytest.raises(ledger.InsufficientCredits) as refused:
        ledger.hold(user_id, "image", 10)

    assert (refused.value.balance, refused.value.required) == (9, 10)
    assert balance_of(user_id) == 9
    assert db.session.execute(sa.select(sa.func.count()).select_from(CreditSpend)).scalar_one() == 0


@pytest.mark.smoke
def test_purchase_is_credited_once_whoever_completes_it(make_user):
    user_id = make_user(credits=500)
    purchase_id = pending_purchase(user_id)

    assert ledger.complete_purchase(purchase_id, "pi_1", 2000, "usd") is True
    assert ledger.complete_purchase(purchase_id, "pi_1", 2000, "usd") is False

    assert balance_of(user_id) == 1000
    assert ledger.audit() == []


def test_racing_completions_of_one_purchase_credit_it_once(app, make_user):
    from tests.support.threads import race

    user_id = make_user(credits=500)
    purchase_id = pending_purchase(user_id)

    results = race(app, lambda i: ledger.complete_purchase(purchase_id, "pi_1", 2000, "usd"), 12)

    assert results.count(True) == 1
    assert balance_of(user_id) == 1000
    assert ledger.audit() == []


def test_failed_or_expired_purchases_are_never_credited(make_user):
    user_id = make_user(credits=500)
    failed = pending_purchase(user_id, session="cs_failed")
    assert ledger.mark_purchase(failed, "failed") is True

    assert ledger.complete_purchase(failed, "pi_x", 2000, "usd") is False
    assert balance_of(user_id) == 500


def completed_purchase(user_id: int, session: str = "cs_1") -> int:
    """A 500-credit purchase paid $20.00, credited."""
    purchase_id = pending_purchase(user_id, credits=500, amount=2000, session=session)
    ledger.complete_purchase(purchase_id, f"pi_{session}", 2000, "usd")
    return purchase_id


def moves(purchase_id: int) -> list[tuple[str, int]]:
    """The clawback adjustments of a purchase, oldest first: (reason, amount)."""
    rows = db.session.execute(
        sa.select(CreditAdjustment.reason, CreditAdjustment.amount)
        .where(CreditAdjustment.purchase_id == purchase_id)
        .order_by(CreditAdjustment.id)
    ).all()
    return [tuple(row) for row in rows]


def clawed_back(purchase_id: int) -> int:
    db.session.expire_all()
    return db.session.get(CreditPurchase, purchase_id).credits_clawed_back


def test_partial_refund_claws_back_its_share_rounded_up(make_user):
    # 30 % of $20.00 for 500 credits is 150 credits; one cent more (150.25) rounds up to 151.
    exact, rounded = make_user(credits=0), make_user(credits=0)
    exact_purchase, rounded_purchase = completed_purchase(exact, "cs_a"), completed_purchase(rounded, "cs_b")

    assert ledger.claw_back_refund(exact_purchase, 600) == 150
    assert ledger.claw_back_refund(rounded_purchase, 601) == 151

    assert (balance_of(exact), balance_of(rounded)) == (350, 349)
    assert ledger.audit() == []


def test_the_clawback_follows_stripes_state_down_as_well_as_up(make_user):
    user_id = make_user(credits=0)
    purchase_id = completed_purchase(user_id)

    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=800, disputed=0))  # $8 refunded
    assert balance_of(user_id) == 300
    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=0, disputed=0))  # that refund failed
    assert balance_of(user_id) == 500
    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=400, disputed=0))  # a $4 refund
    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=400, disputed=0))  # told again

    assert balance_of(user_id) == 400
    assert moves(purchase_id) == [("refund", -200), ("refund", 200), ("refund", -100)]
    assert clawed_back(purchase_id) == 100
    assert ledger.audit() == []


def test_a_read_of_stripe_older_than_one_applied_changes_nothing(make_user):
    user_id = make_user(credits=0)
    purchase_id = completed_purchase(user_id)
    older = ledger.start_clawback_check(purchase_id)  # read: $8 refunded
    newer = ledger.start_clawback_check(purchase_id)  # read later: the refund has failed

    applied = ledger.move_clawback(purchase_id, ledger.HeldBack(0, 0), ticket=newer)
    stale = ledger.move_clawback(purchase_id, ledger.HeldBack(800, 0), ticket=older)

    assert (applied.applied, stale.applied, stale.moved) == (True, False, 0)
    assert balance_of(user_id) == 500
    assert moves(purchase_id) == []


def test_refund_after_the_credits_were_spent_goes_negative_and_blocks_spending(make_user):
    user_id = make_user(credits=0)
    purchase_id = pending_purchase(user_id, credits=500, amount=2000)
    ledger.complete_purchase(purchase_id, "pi_neg", 2000, "usd")
    ledger.capture(ledger.hold(user_id, "image", 400).spend_id)

    ledger.claw_back_refund(purchase_id, 2000)

    assert balance_of(user_id) == -400
    with pytest.raises(ledger.InsufficientCredits):
        ledger.hold(user_id, "image", 5)
    assert ledger.audit() == []


def test_refund_and_dispute_before_completion_are_kept_and_applied_on_completion(make_user):
    user_id = make_user(credits=0)
    purchase_id = pending_purchase(user_id, credits=500, amount=2000)

    move = ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=400, disputed=600))
    assert (move.moved, move.completed) == (0, False)
    assert balance_of(user_id) == 0
    ledger.complete_purchase(purchase_id, "pi_early", 2000, "usd")

    assert balance_of(user_id) == 250
    assert clawed_back(purchase_id) == 250
    assert ledger.audit() == []


def test_a_withdrawn_dispute_takes_credits_and_a_reinstated_one_gives_them_back(make_user):
    user_id = make_user(credits=0)
    purchase_id = completed_purchase(user_id)

    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=0, disputed=2000), "dp_1")
    assert balance_of(user_id) == 0
    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=0, disputed=0), "dp_1")

    assert balance_of(user_id) == 500
    assert moves(purchase_id) == [("dispute", -500), ("dispute_won", 500)]
    assert ledger.audit() == []


def test_refund_and_dispute_together_never_take_more_than_was_bought(make_user):
    user_id = make_user(credits=0)
    purchase_id = completed_purchase(user_id)

    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=1200, disputed=0))
    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=1200, disputed=2000))

    assert clawed_back(purchase_id) == 500
    assert balance_of(user_id) == 0
    ledger.move_clawback(purchase_id, ledger.HeldBack(refunded=1200, disputed=0))  # dispute won
    assert (clawed_back(purchase_id), balance_of(user_id)) == (300, 200)
    assert ledger.audit() == []


def test_admin_grant_records_the_reason_and_a_debit_cannot_go_below_zero(make_user):
    user_id = make_user(credits=500)

    assert ledger.grant(user_id, 25, note="goodwill").balance == 525
    with pytest.raises(ledger.InvalidAmount):
        ledger.grant(user_id, -1000, note="too much")
    with pytest.raises(ledger.InvalidAmount):
        ledger.grant(user_id, 5, note="  ")

    notes = (
        db.session.execute(sa.select(CreditAdjustment.note).where(CreditAdjustment.reason == "admin"))
        .scalars()
        .all()
    )
    assert notes == ["goodwill"]
    assert balance_of(user_id) == 525


def test_release_stale_returns_only_abandoned_holds(make_user):
    user_id = make_user(credits=100)
    old = ledger.hold(user_id, "image", 20)
    fresh = ledger.hold(user_id, "image", 10)
    db.session.execute(
        sa.update(CreditSpend)
        .where(CreditSpend.id == old.spend_id)
        .values(created_at=utcnow() - timedelta(hours=1))
    )
    db.session.commit()

    released = ledger.release_stale(timedelta(minutes=15))
    again = ledger.release_stale(timedelta(minutes=15))

    assert released == [(old.spend_id, user_id, 20)]
    assert again == []
    assert db.session.get(CreditSpend, fresh.spend_id).status == "held"
    assert balance_of(user_id) == 90
    assert ledger.audit() == []


def test_a_failure_inside_a_hold_leaves_the_balance_unchanged(make_user):
    user_id = make_user(credits=100)

    # The balance update succeeds, then the spend insert violates the column length.
    with pytest.raises(sa.exc.DBAPIError):
        ledger.hold(user_id, "x" * 500, 10)

    assert balance_of(user_id) == 100
    assert db.session.execute(sa.select(sa.func.count()).select_from(CreditSpend)).scalar_one() == 0
    assert ledger.audit() == []


def test_a_failure_inside_a_clawback_leaves_the_balance_and_the_purchase_unchanged(make_user):
    user_id = make_user(credits=0)
    purchase_id = completed_purchase(user_id)
    ledger.claw_back_refund(purchase_id, 400, stripe_object_id="re_1")

    # The purchase row is updated, then the adjustment insert violates the column length.
    with pytest.raises(sa.exc.DBAPIError):
        ledger.claw_back_refund(purchase_id, 2000, stripe_object_id="re_" + "x" * 300)

    db.session.expire_all()
    assert db.session.get(CreditPurchase, purchase_id).amount_refunded == 400
    assert balance_of(user_id) == 400
    assert ledger.audit() == []


def test_audit_finds_a_balance_that_differs_from_its_ledger(make_user):
    user_id = make_user(email="drift@example.com", credits=500)
    wallet_id = db.session.get(User, user_id).wallet_id
    db.session.execute(sa.update(Wallet).where(Wallet.id == wallet_id).values(balance=Wallet.balance + 1))
    db.session.commit()

    assert ledger.audit() == [
        ledger.Mismatch(wallet_id, "drift@example.com", 501, 500),
        ledger.Mismatch(wallet_id, "drift@example.com", 501, 500, "lots remaining - owed"),
    ]
