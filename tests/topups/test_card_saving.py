"""A card the person asked to save survives Stripe failing while the payment is read back."""

from __future__ import annotations

from tests.support.stripe_helpers import (
    checkout,
    credits,
    emulator_config,
    event,
    purchase,
    stored_event,
    wait_for,
    wait_for_credits,
)
from tests.topups.conftest import enable, settings


def test_a_stripe_failure_reading_the_payment_back_is_retried_until_the_card_is_saved(
    app, topups, client, make_user, sign_in_as
):
    user = make_user(credits=300)
    sign_in_as(client, user)
    session_id = checkout(client, 100, save_card="1")
    topups.fail_next("/v1/payment_intents/", method="GET")

    topups.pay(session_id)
    completed = event("checkout.session.completed", session_id)
    attempts = topups.wait_for_deliveries(
        lambda d: d["event_id"] == completed["id"] and d["status_code"] == 200, timeout=30
    )
    topups.wait_until_idle()

    statuses = [d["status_code"] for d in topups.deliveries(event_id=completed["id"])]
    assert statuses[0] == 503 and statuses[-1] == 200, statuses  # Stripe was told to try again
    assert attempts and credits(user) == 400  # credited once across both deliveries
    assert stored_event(completed["id"]).status == "processed"
    assert settings(user).card_last4 == "4242"
    assert purchase(session_id).payment_method == {"type": "card", "brand": "visa", "last4": "4242"}
    enable(client, threshold=50)  # 303: the saved card lets auto top-up switch on
    assert settings(user).enabled


def test_a_card_saved_through_the_success_page_is_kept_whatever_stripe_does_next(
    app, topups, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=300)
    sign_in_as(client, user)
    session_id = checkout(client, 100, save_card="1")
    with emulator_config(topups, live_server, webhooks_enabled=False):
        topups.pay(session_id)
        topups.fail_next("/v1/payment_intents/", method="GET")

        page = client.get(f"/checkout/success?session_id={session_id}")

    assert page.status_code == 200 and credits(user) == 400
    topups.resend(event("checkout.session.completed", session_id)["id"])
    topups.wait_until_idle()
    wait_for(lambda: settings(user) and settings(user).card_last4, what="the card saved")
    wait_for_credits(user, 400)
    enable(client, threshold=50)
    assert settings(user).enabled and settings(user).card_last4 == "4242"
