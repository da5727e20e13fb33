"""Webhooks: signed like Stripe, delivered in order, retried with backoff, recorded."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from .conftest import WEBHOOK_SECRET


def _paid_charge(emulator, stripe_client, session) -> str:
    intent_id = emulator.pay(session.id)["session"]["payment_intent"]
    return stripe_client.v1.payment_intents.retrieve(intent_id).latest_charge


def test_completed_event_verifies_with_the_sdk_and_carries_the_session(
    emulator, webhook_receiver, create_session
):
    session = create_session()
    emulator.pay(session.id)

    [delivery] = webhook_receiver.of_type("checkout.session.completed")

    assert delivery.headers["Content-Type"].startswith("application/json")
    event = stripe.Webhook.construct_event(
        delivery.body, delivery.headers["Stripe-Signature"], WEBHOOK_SECRET
    )
    assert event.id.startswith("evt_") and event.object == "event"
    assert isinstance(event.data.object, stripe.checkout.Session)
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    assert event.data.object.client_reference_id == "user-42"
    assert event.livemode is False and event.pending_webhooks == 1 and event.api_version


def test_a_wrong_secret_does_not_verify(emulator, webhook_receiver, create_session):
    emulator.pay(create_session().id)

    [delivery] = webhook_receiver.of_type("checkout.session.completed")

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            delivery.body, delivery.headers["Stripe-Signature"], "whsec_someone_else"
        )


def test_refund_events_carry_the_cumulative_amount_refunded(
    emulator, stripe_client, webhook_receiver, create_session
):
    charge_id = _paid_charge(emulator, stripe_client, create_session("credits_500"))

    first = stripe_client.v1.refunds.create(params={"charge": charge_id, "amount": 500})
    stripe_client.v1.refunds.create(params={"charge": charge_id})

    events = [d.event() for d in webhook_receiver.of_type("charge.refunded", count=2)]
    charges = [event.data.object for event in events]
    assert all(isinstance(charge, stripe.Charge) for charge in charges)
    assert [(c.amount_refunded, c.refunded) for c in charges] == [(500, False), (2000, True)]
    assert all("refunds" not in charge for charge in charges)  # not embedded since 2022-11-15
    assert [r.id for r in stripe_client.v1.refunds.list(params={"charge": charge_id}).data][-1] == first.id
    assert events[0].request.idempotency_key


def test_dispute_events_carry_the_dispute(emulator, stripe_client, webhook_receiver, create_session):
    charge_id = _paid_charge(emulator, stripe_client, create_session())
    dispute = emulator.dispute(charge_id)
    emulator.close_dispute(dispute["id"], "lost")

    created = webhook_receiver.of_type("charge.dispute.created")[0].event().data.object
    closed = webhook_receiver.of_type("charge.dispute.closed")[0].event().data.object

    assert isinstance(created, stripe.Dispute)
    assert (created.id, created.status, created.charge) == (dispute["id"], "needs_response", charge_id)
    assert (closed.id, closed.status) == (dispute["id"], "lost")


def test_delayed_payment_events_arrive_in_order(emulator, webhook_receiver, create_session):
    first, second = create_session(), create_session()
    emulator.pay(first.id, "async_pending")
    emulator.settle(first.id, "succeeded")
    emulator.pay(second.id, "async_pending")
    emulator.settle(second.id, "failed")

    arrived = webhook_receiver.wait_for(lambda d: True, count=4)

    assert [(d.event().type, d.event().data.object.id) for d in arrived] == [
        ("checkout.session.completed", first.id),
        ("checkout.session.async_payment_succeeded", first.id),
        ("checkout.session.completed", second.id),
        ("checkout.session.async_payment_failed", second.id),
    ]
    assert arrived[0].event().data.object.payment_status == "unpaid"


def test_non_2xx_answers_are_retried_with_the_same_body_until_accepted(
    emulator, webhook_receiver, create_session
):
    webhook_receiver.respond_with(500, 503)
    emulator.pay(create_session().id)

    arrived = webhook_receiver.wait_for(lambda d: True, count=3)
    attempts = emulator.wait_for_deliveries(lambda d: d["status_code"] == 200)

    assert [d.status for d in arrived] == [500, 503, 200]
    assert len({d.body for d in arrived}) == 1
    assert all(d.event().type == "checkout.session.completed" for d in arrived)
    log = emulator.deliveries(event_id=attempts[0]["event_id"])
    assert [(a["attempt"], a["status_code"]) for a in log] == [(1, 500), (2, 503), (3, 200)]
    assert log[0]["error"] and log[2]["error"] is None
    assert log[1]["at"] - log[0]["at"] >= 0.05 and log[2]["at"] - log[1]["at"] >= 0.1


def test_retries_stop_after_max_attempts(emulator, webhook_receiver, create_session):
    emulator.configure(max_attempts=2, retry_base_seconds=0.05)
    webhook_receiver.respond_with(*[500] * 10)
    emulator.pay(create_session().id)

    emulator.wait_for_deliveries(lambda d: d["attempt"] == 2)
    emulator.wait_until_idle()  # nothing queued, scheduled for retry or in flight: it gave up

    assert [a["attempt"] for a in emulator.deliveries()] == [1, 2]
    assert len(webhook_receiver.deliveries) == 2


def test_an_unreachable_endpoint_is_recorded_as_errors(emulator, create_session):
    emulator.configure(webhook_url="http://127.0.0.1:9/webhooks/stripe")
    emulator.pay(create_session().id)

    attempts = emulator.wait_for_deliveries(count=3)

    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["status_code"] is None and a["error"] for a in attempts)


def test_disabled_webhooks_record_events_but_deliver_nothing(
    emulator, stripe_client, webhook_receiver, create_session
):
    emulator.configure(webhooks_enabled=False)
    session = create_session()
    emulator.pay(session.id)

    [event] = stripe_client.v1.events.list().data
    emulator.wait_until_idle()  # nothing was queued for it, nor is in flight

    assert event.type == "checkout.session.completed" and event.pending_webhooks == 0
    assert emulator.deliveries() == [] and webhook_receiver.deliveries == []


def test_resend_delivers_the_same_bytes_with_a_fresh_signature(emulator, webhook_receiver, create_session):
    emulator.pay(create_session().id)
    [original] = webhook_receiver.of_type("checkout.session.completed")
    signed_at = _timestamp(original)
    time.sleep(max(0.0, signed_at + 1.05 - time.time()))  # let the clock pass one second

    emulator.resend(original.event().id)

    resent = webhook_receiver.of_type("checkout.session.completed", count=2)[1]
    assert resent.body == original.body
    assert _timestamp(resent) > signed_at
    assert resent.event().id == original.event().id
    # The receiver sees the body before the emulator records the attempt's answer.
    attempts = emulator.wait_for_deliveries(lambda d: d["event_id"] == original.event().id, count=2)
    assert [a["resend"] for a in attempts] == [False, True]


def test_resend_reaches_the_app_even_when_webhooks_were_disabled(
    emulator, stripe_client, webhook_receiver, create_session
):
    emulator.configure(webhooks_enabled=False)
    emulator.pay(create_session().id)
    [event] = stripe_client.v1.events.list().data

    emulator.resend(event.id)

    [delivery] = webhook_receiver.of_type("checkout.session.completed")
    assert json.loads(delivery.body)["id"] == event.id


def test_deliveries_filter_by_event_and_type(emulator, stripe_client, create_session):
    charge_id = _paid_charge(emulator, stripe_client, create_session())
    stripe_client.v1.refunds.create(params={"charge": charge_id, "amount": 100})
    # Wait for the two deliveries this test reads, not for any two: other events of the
    # payment may be delivered first.
    for wanted in ("checkout.session.completed", "charge.refunded"):
        emulator.wait_for_deliveries(lambda delivery, wanted=wanted: delivery.get("type") == wanted)

    refunds = emulator.deliveries(type="charge.refunded")
    completed = emulator.deliveries(type="checkout.session.completed")

    assert len(refunds) == 1 and len(completed) == 1
    assert emulator.deliveries(event_id=refunds[0]["event_id"]) == refunds
    assert refunds[0]["status_code"] == 200


def _timestamp(delivery) -> int:
    parts = dict(part.split("=", 1) for part in delivery.headers["Stripe-Signature"].split(","))
    return int(parts["t"])
