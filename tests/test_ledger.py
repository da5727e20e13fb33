"""Ledger rules: purchases, refunds, disputes, grants, stale holds, audit, and faults."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditPurchase, CreditSpend, User, utcnow

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


def refund_sequence(events: list[int]) -> tuple[int, int]:
    """Apply cumulative refund amounts to a fresh purchase; returns (balance, clawed back)."""
    user_id, _ = ledger.register_user(
        f"sub-{events}", f"r{len(events)}-{id(events)}@example.com", "R", None, 0
    )
    purchase_id = pending_purchase(user_id, credits=500, amount=2000, session=f"cs_{id(events)}")
    ledger.complete_purchase(purchase_id, f"pi_{id(events)}", 2000, "usd")
    for amount in events:
        ledger.claw_back_refund(purchase_id, amount)
    db.session.expire_all()
    return balance_of(user_id), db.session.get(CreditPurchase, purchase_id).credits_clawed_back


def test_partial_then_full_refund_replayed_and_reordered_converge():
    in_order = refund_sequence([600, 600, 2000, 2000])
    reversed_order = refund_sequence([2000, 600, 2000, 600])
    only_full = refund_sequence([2000])

    assert in_order == reversed_order == only_full == (0, 500)
    assert ledger.audit() == []


def test_partial_refund_claws_back_its_share_rounded_up():
    # 30 % of $20.00 for 500 credits is 150 credits; one cent more (150.25) rounds up to 151.
    assert refund_sequence([600]) == (350, 150)
    assert refund_sequence([601]) == (349, 151)


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


def test_refund_before_completion_is_kept_and_applied_on_completion(make_user):
    user_id = make_user(credits=0)
    purchase_id = pending_purchase(user_id, credits=500, amount=2000)

    assert ledger.claw_back_refund(purchase_id, 1000) == 0
    assert balance_of(user_id) == 0
    ledger.complete_purchase(purchase_id, "pi_early", 2000, "usd")

    assert balance_of(user_id) == 250
    assert ledger.audit() == []


def test_dispute_claws_back_then_gives_back_when_won(make_user):
    user_id = make_user(credits=0)
    purchase_id = pending_purchase(user_id)
    ledger.complete_purchase(purchase_id, "pi_d", 2000, "usd")

    assert ledger.claw_back_dispute(purchase_id, "dp_1", 2000) == 500
    assert ledger.claw_back_dispute(purchase_id, "dp_1", 2000) == 0
    assert balance_of(user_id) == 0
    assert ledger.return_dispute(purchase_id, "dp_1") == 500
    assert ledger.return_dispute(purchase_id, "dp_1") == 0

    assert balance_of(user_id) == 500
    assert ledger.audit() == []


def test_dispute_won_arriving_before_opened_takes_nothing(make_user):
    user_id = make_user(credits=0)
    purchase_id = pending_purchase(user_id)
    ledger.complete_purchase(purchase_id, "pi_d2", 2000, "usd")

    ledger.return_dispute(purchase_id, "dp_2")
    ledger.claw_back_dispute(purchase_id, "dp_2", 2000)

    assert balance_of(user_id) == 500
    assert ledger.audit() == []


def test_refund_and_dispute_together_never_take_more_than_was_bought(make_user):
    user_id = make_user(credits=0)
    purchase_id = pending_purchase(user_id)
    ledger.complete_purchase(purchase_id, "pi_both", 2000, "usd")

    ledger.claw_back_refund(purchase_id, 1200)
    ledger.claw_back_dispute(purchase_id, "dp_3", 2000)

    purchase = db.session.get(CreditPurchase, purchase_id)
    assert purchase.credits_clawed_back == 500
    assert balance_of(user_id) == 0


def test_admin_grant_records_the_reason_and_a_debit_cannot_go_below_zero(make_user):
    user_id = make_user(credits=500)

    assert ledger.grant(user_id, 25, note="goodwill") == 525
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


def test_a_failure_inside_a_clawback_leaves_the_balance_unchanged(make_user):
    user_id = make_user(credits=0)
    purchase_id = pending_purchase(user_id)
    ledger.complete_purchase(purchase_id, "pi_f", 2000, "usd")
    ledger.claw_back_refund(purchase_id, 400, stripe_object_id="re_same")

    # A second adjustment with the same (reason, Stripe id) violates the unique constraint
    # after the balance was already lowered inside the transaction.
    with pytest.raises(sa.exc.IntegrityError):
        ledger.claw_back_refund(purchase_id, 2000, stripe_object_id="re_same")

    assert balance_of(user_id) == 400
    assert ledger.audit() == []


def test_audit_finds_a_balance_that_differs_from_its_ledger(make_user):
    user_id = make_user(email="drift@example.com", credits=500)
    db.session.execute(sa.update(User).where(User.id == user_id).values(credits=User.credits + 1))
    db.session.commit()

    assert ledger.audit() == [ledger.Mismatch(user_id, "drift@example.com", 501, 500)]


def test_a_refund_capped_by_an_open_dispute_is_owed_in_full_once_the_dispute_is_won(make_user):
    dispute_first = make_user(credits=0)
    purchase_a = pending_purchase(dispute_first, session="cs_dispute_first")
    ledger.complete_purchase(purchase_a, "pi_a", 2000, "usd")
    ledger.claw_back_dispute(purchase_a, "dp_a", 2000)
    ledger.claw_back_refund(purchase_a, 1000)  # nothing left to take while disputed
    ledger.return_dispute(purchase_a, "dp_a")

    refund_first = make_user(credits=0)
    purchase_b = pending_purchase(refund_first, session="cs_refund_first")
    ledger.complete_purchase(purchase_b, "pi_b", 2000, "usd")
    ledger.claw_back_refund(purchase_b, 1000)
    ledger.claw_back_dispute(purchase_b, "dp_b", 2000)
    ledger.return_dispute(purchase_b, "dp_b")

    assert balance_of(dispute_first) == balance_of(refund_first) == 250
    assert ledger.audit() == []
