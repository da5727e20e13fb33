"""Refunds and disputes: the clawback follows what Stripe holds back, whatever the events do."""

from __future__ import annotations

import random

from creditapp import ledger
from creditapp.billing import stripe_events
from creditapp.extensions import db
from tests.support import stripe_helpers
from tests.support.lifecycle import (
    TransactionWatch,
    bought,
    charge_events,
    clawback_adds_up,
    clawback_moves,
    close_dispute,
    escalate,
    fail_refund,
    open_dispute,
    process_again,
    refund,
    settled,
    watched_client,
)
from tests.support.stripe_helpers import (
    charge_id,
    checkout,
    credits,
    emulator_config,
    event,
    post_event,
    purchase,
    stored_event,
    wait_for_credits,
)
from tests.support.threads import race

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def test_a_failed_refund_gives_its_credits_back_and_a_later_smaller_refund_takes_its_share(
    stripe_env, live_server, runner, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)

    first = refund(session_id, 800)  # $8 of $20 → 200 of the 500 credits
    wait_for_credits(user, 800)
    fail_refund(stripe_env, first)
    wait_for_credits(user, 1000)
    refund(session_id, 400)  # a real $4 refund → 100 credits
    wait_for_credits(user, 900)
    settled(stripe_env)

    assert clawback_moves(session_id) == [("refund", -200), ("refund", 200), ("refund", -100)]
    delivered = charge_events(charge_id(session_id))
    assert {"refund.created", "charge.refunded", "refund.failed", "refund.updated"} <= {
        e["type"] for e in delivered
    }
    shuffled = random.Random(10).sample(delivered, len(delivered))
    process_again(live_server, delivered[::-1])
    process_again(live_server, shuffled)

    assert credits(user) == 900
    assert clawback_moves(session_id) == [("refund", -200), ("refund", 200), ("refund", -100)]
    assert purchase(session_id).credits_clawed_back == 100
    assert clawback_adds_up(session_id)
    audit = runner.invoke(args=["credits", "audit"])
    assert audit.exit_code == 0, audit.output


def test_a_pending_refund_takes_its_credits_and_a_canceled_one_gives_them_back(
    stripe_env, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    stripe_env.configure(new_refund_status="pending")
    try:
        canceled = refund(session_id, 1000)
        wait_for_credits(user, 750)
        stripe_env.cancel_refund(canceled)
        wait_for_credits(user, 1000)
        settling = refund(session_id, 400)
        wait_for_credits(user, 900)
        stripe_env.succeed_refund(settling)
        settled(stripe_env)
    finally:
        stripe_env.configure(new_refund_status="succeeded")

    assert credits(user) == 900
    assert clawback_moves(session_id) == [("refund", -250), ("refund", 250), ("refund", -100)]
    assert ledger.audit() == []


def test_refund_after_the_credits_were_spent_takes_the_balance_below_zero(
    stripe_env, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as, start=0)
    ledger.capture(ledger.hold(user, "image", 400).spend_id)

    refund(session_id)

    wait_for_credits(user, -400)
    assert ledger.audit() == []


def test_refund_before_the_purchase_is_credited_is_applied_on_completion(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        stripe_env.pay(session_id)
        refund(session_id, 800)
    refunded = event("charge.refunded", charge_id(session_id))
    # No metadata on the charge: the purchase is found through the PaymentIntent's.
    refunded["data"]["object"]["metadata"] = {}

    assert post_event(live_server, refunded).status_code == 200
    assert stored_event(refunded["id"]).status == "processed"
    assert credits(user) == 500
    assert (purchase(session_id).status, purchase(session_id).amount_refunded) == ("pending", 800)

    assert post_event(live_server, event("checkout.session.completed", session_id)).status_code == 200

    assert credits(user) == 800  # +500 bought, -200 for the 40 % already refunded
    assert ledger.audit() == []


def test_an_inquiry_takes_nothing_and_once_escalated_and_lost_the_clawback_stays(
    stripe_env, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)

    inquiry = open_dispute(stripe_env, session_id, inquiry=True)
    settled(stripe_env)
    assert credits(user) == 1000
    escalate(stripe_env, inquiry["id"])
    wait_for_credits(user, 500)
    close_dispute(stripe_env, inquiry["id"], "lost")
    settled(stripe_env)

    assert credits(user) == 500
    assert clawback_moves(session_id) == [("dispute", -500)]
    assert ledger.audit() == []


def test_an_inquiry_closed_with_a_warning_then_a_chargeback_won_gives_everything_back(
    stripe_env, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    inquiry = open_dispute(stripe_env, session_id, inquiry=True)
    close_dispute(stripe_env, inquiry["id"], "warning_closed")
    settled(stripe_env)
    assert credits(user) == 1000

    chargeback = open_dispute(stripe_env, session_id)
    wait_for_credits(user, 500)
    close_dispute(stripe_env, chargeback["id"], "won")
    wait_for_credits(user, 1000)

    assert clawback_moves(session_id) == [("dispute", -500), ("dispute_won", 500)]
    assert purchase(session_id).credits_clawed_back == 0
    assert ledger.audit() == []


def test_a_refund_and_a_dispute_on_one_charge_never_take_more_than_was_bought(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)

    refund(session_id, 1200)  # 300 credits
    wait_for_credits(user, 700)
    open_dispute(stripe_env, session_id)  # the unrefunded $8: the rest of the credits
    wait_for_credits(user, 500)
    settled(stripe_env)
    delivered = charge_events(charge_id(session_id))
    for seed in (1, 2, 3):
        process_again(live_server, random.Random(seed).sample(delivered, len(delivered)))
        assert credits(user) == 500

    assert purchase(session_id).credits_clawed_back == 500
    assert min(amount for _, amount in clawback_moves(session_id)) >= -500
    assert clawback_adds_up(session_id)
    assert ledger.audit() == []


def test_events_of_a_whole_lifecycle_in_any_order_converge_on_stripes_final_state(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        failing = refund(session_id, 1000)
        fail_refund(stripe_env, failing)
        refund(session_id, 400)  # stands: 100 credits
        inquiry = open_dispute(stripe_env, session_id, amount=800, inquiry=True)
        escalate(stripe_env, inquiry["id"])
        close_dispute(stripe_env, inquiry["id"], "lost")  # $8 kept by the bank: 200 credits
    delivered = charge_events(charge_id(session_id))

    for seed in (7, 8):
        process_again(live_server, random.Random(seed).sample(delivered, len(delivered)))
        assert credits(user) == 700

    assert purchase(session_id).credits_clawed_back == 300
    assert clawback_adds_up(session_id)
    assert ledger.audit() == []


def test_two_events_for_one_purchase_handled_at_the_same_moment_move_the_clawback_once(
    stripe_env, live_server, app, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        refund(session_id, 800)
    delivered = charge_events(charge_id(session_id))
    assert len(delivered) >= 2  # refund.created and charge.refunded

    # Eight real threads, each handling one of the events as a first delivery.
    receipts = race(app, lambda i: stripe_events.receive(delivered[i % len(delivered)]), 8)

    assert all(r.status in ("processed", "duplicate") for r in receipts), receipts
    assert credits(user) == 800
    assert clawback_moves(session_id) == [("refund", -200)]
    assert ledger.audit() == []


def test_a_charge_in_an_event_carries_no_refund_list_and_the_app_asks_stripe(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        refund(session_id, 2000)
    refunded = event("charge.refunded", charge_id(session_id))
    assert "refunds" not in refunded["data"]["object"]
    # Stale amounts in the event's charge do not matter: Stripe's refunds list decides.
    refunded["data"]["object"]["amount_refunded"] = 1

    assert post_event(live_server, refunded).status_code == 200

    assert credits(user) == 500
    assert purchase(session_id).amount_refunded == 2000


def test_no_database_transaction_is_open_while_stripe_is_asked(
    stripe_env, live_server, app, runner, database_url, client, make_user, sign_in_as, monkeypatch
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        refund(session_id, 800)
        dispute = open_dispute(stripe_env, session_id, amount=400, inquiry=True)
        escalate(stripe_env, dispute["id"])
        delivered = charge_events(charge_id(session_id))
        for evt in delivered:
            # As Stripe would send it from an older API: no PaymentIntent or metadata to go by.
            evt["data"]["object"].pop("payment_intent", None)
        watch = TransactionWatch(database_url)
        monkeypatch.setitem(app.extensions, "stripe_client", watched_client(stripe_env, watch))
        db.session.rollback()

        receipts = [stripe_events.receive(evt) for evt in delivered]
        reconciled = runner.invoke(args=["credits", "reconcile", "--since", "1"])

    assert [r.status for r in receipts] == ["processed"] * len(delivered)
    assert reconciled.exit_code == 0, reconciled.output
    assert credits(user) == 700
    assert len(watch.open_during_calls) > 2 * len(delivered)
    assert [call for call in watch.open_during_calls if call[1]] == []
