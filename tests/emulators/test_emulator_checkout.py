"""Hosted Checkout: paying, delayed payments, declines, discounts, disputes."""

from __future__ import annotations

import pytest
import requests
import stripe

from tests.support.emulator import EmulatorError

from .conftest import CANCEL_URL


def test_paying_creates_a_succeeded_intent_and_a_charge_carrying_the_metadata(
    emulator, stripe_client, create_session
):
    session = create_session("credits_500")

    result = emulator.pay(session.id)

    paid = result["session"]
    assert (paid["status"], paid["payment_status"]) == ("complete", "paid")
    assert result["redirect_url"] == (f"http://127.0.0.1:5999/checkout/success?session_id={session.id}")
    intent = stripe_client.v1.payment_intents.retrieve(paid["payment_intent"])
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 2000, "usd")
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    assert isinstance(charge, stripe.Charge)
    assert (charge.paid, charge.amount, charge.payment_intent) == (True, 2000, intent.id)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert charge.metadata.to_dict() == {"purchase_id": "17", "user_id": "42"}


def test_delayed_payment_completes_unpaid_then_settles_paid(emulator, stripe_client, create_session):
    session = create_session("credits_100")

    pending = emulator.pay(session.id, "async_pending")["session"]
    assert (pending["status"], pending["payment_status"]) == ("complete", "unpaid")
    intent = stripe_client.v1.payment_intents.retrieve(pending["payment_intent"])
    assert (intent.status, intent.latest_charge) == ("processing", None)

    settled = emulator.settle(session.id, "succeeded")

    assert settled["payment_status"] == "paid"
    intent = stripe_client.v1.payment_intents.retrieve(pending["payment_intent"])
    assert intent.status == "succeeded" and intent.latest_charge.startswith("ch_")
    types = [e.type for e in stripe_client.v1.events.list().data]
    assert types == ["checkout.session.async_payment_succeeded", "checkout.session.completed"]


def test_failed_delayed_payment_stays_unpaid(emulator, stripe_client, create_session):
    session = create_session()
    emulator.pay(session.id, "async_pending")

    failed = emulator.settle(session.id, "failed")

    assert failed["payment_status"] == "unpaid"
    latest = stripe_client.v1.events.list(params={"limit": 1}).data[0]
    assert latest.type == "checkout.session.async_payment_failed"
    with pytest.raises(EmulatorError):
        emulator.settle(session.id, "succeeded")


def test_declined_card_leaves_the_session_open_and_payable(emulator, stripe_client, create_session):
    session = create_session()

    declined = emulator.pay(session.id, "declined")

    assert declined["redirect_url"] is None
    assert declined["error"]["code"] == "card_declined"
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.events.list().data == []
    assert emulator.pay(session.id)["session"]["payment_status"] == "paid"


def test_full_discount_needs_no_payment_and_has_no_intent(emulator, stripe_client, create_session):
    session = create_session("credits_1000")

    done = emulator.pay(session.id, discount_percent=100)["session"]

    assert (done["amount_total"], done["payment_status"]) == (0, "no_payment_required")
    assert done["payment_intent"] is None
    assert done["total_details"]["amount_discount"] == 3500
    assert stripe_client.v1.payment_intents.list().data == []


def test_a_session_that_is_not_open_cannot_be_paid(emulator, create_session):
    session = create_session()
    emulator.pay(session.id)

    with pytest.raises(EmulatorError, match="400"):
        emulator.pay(session.id)
    expired = create_session()
    emulator.expire(expired.id)
    with pytest.raises(EmulatorError, match="expired"):
        emulator.pay(expired.id)


def test_hosted_page_shows_the_amount_and_the_four_buttons(create_session):
    session = create_session("credits_500")

    page = requests.get(session.url, timeout=5)

    assert page.status_code == 200
    assert "$20.00" in page.text
    for label in ("Pay", "Pay with a delayed method", "Decline", "Cancel"):
        assert f">{label}</button>" in page.text
    assert "<script" not in page.text and "<link" not in page.text and "src=" not in page.text


def test_hosted_page_pay_redirects_the_browser_to_the_success_url(stripe_client, create_session):
    session = create_session()

    response = requests.post(session.url, data={"action": "pay"}, allow_redirects=False, timeout=5)

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"session_id={session.id}")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_hosted_page_cancel_and_decline_charge_nothing(stripe_client, create_session):
    session = create_session()

    cancel = requests.post(session.url, data={"action": "cancel"}, allow_redirects=False, timeout=5)
    decline = requests.post(session.url, data={"action": "decline"}, allow_redirects=False, timeout=5)

    assert (cancel.status_code, cancel.headers["Location"]) == (303, CANCEL_URL)
    assert decline.status_code == 200 and "card declined" in decline.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.charges.list().data == []


def test_dispute_opens_needing_a_response_and_closes_won_or_lost(emulator, stripe_client, create_session):
    session = create_session("credits_500")
    intent_id = emulator.pay(session.id)["session"]["payment_intent"]
    charge_id = stripe_client.v1.payment_intents.retrieve(intent_id).latest_charge

    opened = emulator.dispute(charge_id, amount=1500)

    assert opened["id"].startswith("dp_") and opened["status"] == "needs_response"
    assert (opened["charge"], opened["payment_intent"]) == (charge_id, intent_id)
    assert (opened["amount"], opened["currency"]) == (1500, "usd")
    dispute = stripe_client.v1.disputes.retrieve(opened["id"])
    assert isinstance(dispute, stripe.Dispute) and dispute.reason == "fraudulent"
    assert emulator.close_dispute(opened["id"], "won")["status"] == "won"
    with pytest.raises(EmulatorError):
        emulator.close_dispute(opened["id"], "lost")
    types = [e.type for e in stripe_client.v1.events.list(params={"type": "charge.dispute.*"}).data]
    assert types[::-1] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]


def test_expire_control_expires_and_emits_the_event(emulator, stripe_client, create_session):
    session = create_session()

    assert emulator.expire(session.id)["status"] == "expired"

    event = stripe_client.v1.events.list().data[0]
    assert (event.type, event.data.object.id) == ("checkout.session.expired", session.id)
