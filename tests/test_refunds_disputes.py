"""Refunds and disputes from Stripe take credits back, once, in whatever order they arrive."""

from __future__ import annotations

import json

from creditapp import ledger, stripe_client
from tests.support import stripe_helpers
from tests.support.stripe_helpers import (
    charge_id,
    checkout,
    credits,
    emulator_config,
    event,
    events,
    post_event,
    purchase,
    stored_event,
    wait_for,
    wait_for_credits,
)

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def _bought(stripe_env, client, make_user, sign_in_as, start: int = 500) -> tuple[int, str]:
    """A user who bought the 500-credit pack ($20.00), credited by the webhook."""
    user = make_user(credits=start)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    stripe_env.pay(session_id)
    wait_for_credits(user, start + 500)
    return user, session_id


def _refund(session_id: str, amount: int | None = None) -> str:
    params = {"payment_intent": purchase(session_id).stripe_payment_intent_id}
    if amount is not None:
        params["amount"] = amount
    return stripe_client.client().v1.refunds.create(params=params).id


def _resend_and_wait(stripe_env, event_id: str) -> None:
    stripe_env.resend(event_id)
    stripe_env.wait_for_deliveries(
        lambda d: d["event_id"] == event_id and d["resend"] and d["status_code"] == 200
    )


def test_partial_then_full_refund_claws_back_in_proportion_and_resends_change_nothing(
    stripe_env, client, make_user, sign_in_as
):
    user, session_id = _bought(stripe_env, client, make_user, sign_in_as)

    _refund(session_id, 800)  # 40 % of $20.00
    wait_for_credits(user, 800)
    _refund(session_id)  # the remaining 60 %
    wait_for_credits(user, 500)

    refunded = events("charge.refunded", charge_id(session_id))
    assert len(refunded) == 2
    for evt in refunded:
        _resend_and_wait(stripe_env, evt["id"])
    assert credits(user) == 500
    bought = purchase(session_id)
    assert (bought.amount_refunded, bought.credits_refunded, bought.credits_clawed_back) == (2000, 500, 500)
    assert ledger.audit() == []


def test_refund_events_in_reverse_order_converge_on_the_same_balance(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user, session_id = _bought(stripe_env, client, make_user, sign_in_as)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        _refund(session_id, 800)
        _refund(session_id)
    first, second = events("charge.refunded", charge_id(session_id))
    assert (first["data"]["object"]["amount_refunded"], second["data"]["object"]["amount_refunded"]) == (
        800,
        2000,
    )

    assert post_event(live_server, second).status_code == 200
    assert credits(user) == 500
    assert post_event(live_server, first).status_code == 200
    assert credits(user) == 500
    assert purchase(session_id).credits_clawed_back == 500
    assert ledger.audit() == []


def test_refund_before_the_purchase_is_credited_is_applied_on_completion(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        stripe_env.pay(session_id)
        stripe_client.client().v1.refunds.create(params={"charge": charge_id(session_id), "amount": 800})
    refund = event("charge.refunded", charge_id(session_id))
    # No metadata on the charge: the purchase is found through the PaymentIntent's.
    refund["data"]["object"]["metadata"] = {}

    assert post_event(live_server, refund).status_code == 200
    assert stored_event(refund["id"]).status == "processed"
    assert credits(user) == 500
    assert (purchase(session_id).status, purchase(session_id).amount_refunded) == ("pending", 800)

    completed = event("checkout.session.completed", session_id)
    assert post_event(live_server, completed).status_code == 200

    assert credits(user) == 800  # +500 bought, -200 for the 40 % already refunded
    assert ledger.audit() == []


def test_refund_after_the_credits_were_spent_takes_the_balance_below_zero(
    stripe_env, client, make_user, sign_in_as
):
    user, session_id = _bought(stripe_env, client, make_user, sign_in_as, start=0)
    spend = ledger.hold(user, "image", 400)
    ledger.capture(spend.spend_id)

    _refund(session_id)

    wait_for_credits(user, -400)
    assert ledger.audit() == []


def test_dispute_takes_credits_back_and_a_won_dispute_returns_them(stripe_env, client, make_user, sign_in_as):
    user, session_id = _bought(stripe_env, client, make_user, sign_in_as)

    dispute = stripe_env.dispute(charge_id(session_id))
    wait_for_credits(user, 500)
    _resend_and_wait(stripe_env, event("charge.dispute.created", dispute["id"])["id"])
    assert credits(user) == 500

    stripe_env.close_dispute(dispute["id"], "won")
    wait_for_credits(user, 1000)
    assert purchase(session_id).credits_clawed_back == 0
    assert ledger.audit() == []


def test_lost_dispute_keeps_the_credits_taken_back(stripe_env, client, make_user, sign_in_as):
    user, session_id = _bought(stripe_env, client, make_user, sign_in_as)
    dispute = stripe_env.dispute(charge_id(session_id), amount=1000)  # half of $20.00
    wait_for_credits(user, 750)

    stripe_env.close_dispute(dispute["id"], "lost")

    closed = event("charge.dispute.closed", dispute["id"])
    wait_for(lambda: stored_event(closed["id"]), what="the closed dispute to be stored")
    assert stored_event(closed["id"]).status == "processed"
    assert credits(user) == 750
    assert purchase(session_id).credits_clawed_back == 250


def test_dispute_closed_as_won_before_it_was_seen_opening_takes_nothing(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user, session_id = _bought(stripe_env, client, make_user, sign_in_as)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        dispute = stripe_env.dispute(charge_id(session_id))
        stripe_env.close_dispute(dispute["id"], "won")

    for evt in (
        event("charge.dispute.closed", dispute["id"]),
        event("charge.dispute.created", dispute["id"]),
    ):
        assert post_event(live_server, json.dumps(evt).encode()).status_code == 200

    assert credits(user) == 1000
    assert ledger.audit() == []


def _inquiry_events(stripe_env, live_server, session_id: str, later: str, later_status: str):
    """An inquiry opened on the purchase's charge, and a later event about it (not yet sent).

    Stripe's inquiries (retrieval requests) carry warning_* statuses and move no money.
    """
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        dispute = stripe_env.dispute(charge_id(session_id))
    opened = event("charge.dispute.created", dispute["id"])
    opened["id"] = f"evt_inquiry_{dispute['id']}"
    opened["data"]["object"]["status"] = "warning_needs_response"
    following = {**opened, "id": f"evt_{later}_{dispute['id']}", "type": later}
    following["data"] = {"object": {**opened["data"]["object"], "status": later_status}}
    return opened, following


def test_an_inquiry_takes_nothing_and_its_closing_gives_nothing(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user, session_id = _bought(stripe_env, client, make_user, sign_in_as)
    opened, closed = _inquiry_events(
        stripe_env, live_server, session_id, "charge.dispute.closed", "warning_closed"
    )

    assert post_event(live_server, json.dumps(opened).encode()).status_code == 200
    assert credits(user) == 1000
    assert post_event(live_server, json.dumps(closed).encode()).status_code == 200

    assert credits(user) == 1000
    assert purchase(session_id).credits_clawed_back == 0
    assert ledger.audit() == []


def test_an_inquiry_that_escalates_takes_the_credits_when_funds_are_withdrawn(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user, session_id = _bought(stripe_env, client, make_user, sign_in_as)
    inquiry, withdrawn = _inquiry_events(
        stripe_env, live_server, session_id, "charge.dispute.funds_withdrawn", "needs_response"
    )

    for evt in (inquiry, withdrawn, withdrawn):
        assert post_event(live_server, json.dumps(evt).encode()).status_code == 200

    assert credits(user) == 500
    assert purchase(session_id).credits_clawed_back == 500
    assert ledger.audit() == []
