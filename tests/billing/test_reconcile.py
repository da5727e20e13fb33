"""`flask credits reconcile` and `flask stripe replay`: catching up with missed webhooks."""

from __future__ import annotations

import json
import time

from creditapp import ledger
from creditapp.platform import stripe_client
from tests.conftest import STRIPE_KEY, free_port
from tests.support import stripe_helpers
from tests.support.lifecycle import bought, escalate, fail_refund, open_dispute, refund, settled
from tests.support.stripe_helpers import (
    charge_id,
    checkout,
    credits,
    emulator_config,
    event,
    paid_without_webhook,
    post_event,
    purchase,
    stored_event,
    wait_for,
    wait_for_credits,
)

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def test_reconcile_credits_a_paid_session_whose_webhook_never_came(
    stripe_env, live_server, runner, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    paid = checkout(client, 500)
    processing = checkout(client, 100)
    checkout(client, 1000)  # still open: not listed as complete
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        stripe_env.pay(paid)
        stripe_env.pay(processing, "async_pending")

        first = runner.invoke(args=["credits", "reconcile"])
        again = runner.invoke(args=["credits", "reconcile", "--since", "1"])

    assert first.exit_code == 0, first.output
    assert f"{paid}: purchase {purchase(paid).id}: credited 500 credits to user {user}" in first.stdout
    assert f"{processing}: purchase {purchase(processing).id}: waiting for payment" in first.stdout
    assert "checked 2 complete session(s) from the last 24h: 1 credited, 1 unpaid" in first.stdout
    assert again.exit_code == 0, again.output
    assert f"{paid}: purchase {purchase(paid).id}: already credited" in again.stdout
    assert credits(user) == 1000
    assert purchase(processing).status == "pending"
    assert ledger.audit() == []


def test_reconcile_repairs_a_refund_and_a_dispute_whose_events_never_came(
    stripe_env, live_server, runner, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    charge = charge_id(session_id)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        refund(session_id, 800)  # 200 credits
        inquiry = open_dispute(stripe_env, session_id, amount=400, inquiry=True)
        escalate(stripe_env, inquiry["id"])  # 100 credits

        first = runner.invoke(args=["credits", "reconcile"])
        again = runner.invoke(args=["credits", "reconcile", "--since", "1"])

    assert first.exit_code == 0, first.output
    number = purchase(session_id).id
    assert (
        f"{charge}: purchase {number}: took back 300 credits from user {user}; "
        "now 300 of 500 credits taken back" in first.stdout
    )
    assert "checked 1 charge(s) with refunds or disputes from the last 24h: 1 moved" in first.stdout
    assert again.exit_code == 0, again.output
    assert f"{charge}: purchase {number}: already right (300 of 500 credits taken back)" in again.stdout
    assert credits(user) == 700
    assert ledger.audit() == []


def test_reconcile_gives_back_the_credits_of_a_refund_that_failed_unseen(
    stripe_env, live_server, runner, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    failing = refund(session_id, 2000)
    wait_for_credits(user, 500)
    settled(stripe_env)  # every event of the refund handled before its failure goes unseen
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        fail_refund(stripe_env, failing)

        result = runner.invoke(args=["credits", "reconcile", "--since", "1"])

    assert result.exit_code == 0, result.output
    assert f"returned 500 credits to user {user}; now 0 of 500 credits taken back" in result.stdout
    assert credits(user) == 1000
    assert ledger.audit() == []


def test_reconcile_reports_an_unreachable_stripe_on_stderr(stripe_env, app, runner, monkeypatch):
    unreachable = stripe_client.build_client(STRIPE_KEY, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setitem(app.extensions, "stripe_client", unreachable)

    result = runner.invoke(args=["credits", "reconcile"])

    assert result.exit_code == 1
    assert "Stripe" in result.stderr
    assert result.stdout == ""


def test_reconcile_refuses_a_window_that_is_not_positive(stripe_env, runner):
    result = runner.invoke(args=["credits", "reconcile", "--since", "0"])

    assert result.exit_code == 2
    assert "--since" in result.stderr


def test_replaying_a_processed_event_credits_nothing_again(stripe_env, runner, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    stripe_env.pay(session_id)
    wait_for_credits(user, 1000)
    completed = event("checkout.session.completed", session_id)
    wait_for(lambda: stored_event(completed["id"]), what="the event row")

    result = runner.invoke(args=["stripe", "replay", completed["id"]])

    assert result.exit_code == 0, result.output
    assert f"{completed['id']} checkout.session.completed: processed" in result.stdout
    assert credits(user) == 1000


def test_replay_failed_applies_events_that_failed_earlier(
    stripe_env, live_server, runner, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    # As if an earlier release had failed on this event: stored as failed, nothing credited.
    completed = stripe_helpers.stored_as_failed("checkout.session.completed", session_id)

    result = runner.invoke(args=["stripe", "replay", "--failed"])

    assert result.exit_code == 0, result.output
    assert "replayed 1 event(s), 0 still failing" in result.stdout
    assert credits(user) == 1000
    assert (stored_event(completed["id"]).status, stored_event(completed["id"]).error) == ("processed", None)


def test_replay_failed_exits_non_zero_when_an_event_still_fails(stripe_env, live_server, runner):
    orphan = {
        "id": "evt_orphan_refund",
        "object": "event",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "ch_unknown",
                "object": "charge",
                "amount_refunded": 500,
                "payment_intent": None,
                "metadata": {"purchase_id": "4242", "user_id": "1"},
            }
        },
    }
    assert post_event(live_server, json.dumps(orphan).encode()).status_code == 200
    assert stored_event("evt_orphan_refund").status == "failed"

    result = runner.invoke(args=["stripe", "replay", "--failed"])

    assert result.exit_code == 1
    assert "evt_orphan_refund charge.refunded: failed: UnknownPurchase" in result.stderr
    assert stored_event("evt_orphan_refund").status == "failed"


def test_replay_needs_an_event_id_or_failed_and_a_known_id(stripe_env, runner):
    neither = runner.invoke(args=["stripe", "replay"])
    unknown = runner.invoke(args=["stripe", "replay", "evt_never_seen"])

    assert neither.exit_code == 2
    assert unknown.exit_code == 1
    assert "no stored event evt_never_seen" in unknown.stderr
