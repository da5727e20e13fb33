"""A refund whose `charge` is null (Stripe sends such refunds for some payment methods): the
webhook and `flask credits reconcile` find the purchase through the refund's PaymentIntent."""

from __future__ import annotations

from creditapp import ledger
from creditapp.platform import stripe_client
from tests.support import stripe_helpers
from tests.support.lifecycle import bought
from tests.support.stripe_helpers import (
    charge_id,
    credits,
    emulator_config,
    purchase,
    stored_event,
    wait_for,
    wait_for_credits,
)

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def refund_without_charge(stripe_env, payment_intent_id: str, amount: int) -> dict:
    """Refund through the stand-in's control for refunds that name no charge."""
    response = stripe_env.http.post(
        f"{stripe_env.base_url}/_emulator/payment_intents/{payment_intent_id}/refund-without-charge",
        json={"amount": amount},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_reconcile_claws_back_a_refund_that_names_no_charge(
    stripe_env, live_server, runner, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    intent = purchase(session_id).stripe_payment_intent_id
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        made = refund_without_charge(stripe_env, intent, 800)  # 200 of the 500 credits
        listed = stripe_client.client().v1.refunds.retrieve(made["id"]).to_dict()
        assert listed["charge"] is None and listed["payment_intent"] == intent

        result = runner.invoke(args=["credits", "reconcile", "--since", "1"])
        again = runner.invoke(args=["credits", "reconcile", "--since", "1"])

    assert result.exit_code == 0, result.output
    number = purchase(session_id).id
    assert (
        f"{charge_id(session_id)}: purchase {number}: took back 200 credits from user {user}; "
        "now 200 of 500 credits taken back" in result.stdout
    )
    assert again.exit_code == 0, again.output
    assert "already right (200 of 500 credits taken back)" in again.stdout
    assert credits(user) == 800
    assert ledger.audit() == []


def test_the_webhook_of_a_refund_that_names_no_charge_is_processed_and_claws_back_once(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    intent = purchase(session_id).stripe_payment_intent_id
    made = refund_without_charge(stripe_env, intent, 800)  # 200 of the 500 credits, webhooks on

    wait_for_credits(user, 800)
    created = stripe_env.wait_for_deliveries(
        lambda d: d.get("type") == "refund.created" and d.get("status_code") == 200
    )
    stored = wait_for(lambda: stored_event(created[0]["event_id"]), what="the refund.created event stored")
    assert stored.status == "processed", stored.error  # not "failed: names no charge"
    assert made["charge"] is None
    stripe_env.wait_until_idle()
    assert credits(user) == 800 and purchase(session_id).credits_clawed_back == 200
    assert ledger.audit() == []
