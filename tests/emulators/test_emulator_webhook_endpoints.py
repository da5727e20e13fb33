"""``/v1/webhook_endpoints``: each endpoint gets only its enabled events, signed with its own secret."""

from __future__ import annotations

import time

import pytest
import stripe

from .conftest import WEBHOOK_SECRET, WebhookReceiver


@pytest.fixture
def second_receiver():
    """Another local endpoint, for a second webhook endpoint."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def _types(receiver: WebhookReceiver, secret: str, count: int) -> list[str]:
    found = receiver.wait_for(lambda d: True, count=count)
    return [stripe.Webhook.construct_event(d.body, d.headers["Stripe-Signature"], secret).type for d in found]


def test_the_configured_webhook_url_is_an_endpoint_from_the_start(emulator, stripe_client, webhook_receiver):
    [endpoint] = stripe_client.v1.webhook_endpoints.list().data

    assert isinstance(endpoint, stripe.WebhookEndpoint)
    assert (endpoint.url, endpoint.enabled_events, endpoint.status) == (
        webhook_receiver.url,
        ["*"],
        "enabled",
    )
    assert "secret" not in endpoint  # shown only when an endpoint is created
    assert stripe_client.v1.webhook_endpoints.retrieve(endpoint.id).url == webhook_receiver.url


def test_a_new_endpoint_gets_only_its_events_signed_with_its_own_secret(
    emulator, stripe_client, webhook_receiver, second_receiver, create_session
):
    created = stripe_client.v1.webhook_endpoints.create(
        params={
            "url": second_receiver.url,
            "enabled_events": ["charge.refunded", "refund.created"],
            "description": "refunds only",
            "metadata": {"owner": "billing"},
        }
    )
    assert created.secret.startswith("whsec_") and created.secret != WEBHOOK_SECRET
    assert "secret" not in stripe_client.v1.webhook_endpoints.retrieve(created.id)

    intent_id = emulator.pay(create_session().id)["session"]["payment_intent"]
    stripe_client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 100})

    assert _types(second_receiver, created.secret, 2) == ["refund.created", "charge.refunded"]
    assert _types(webhook_receiver, WEBHOOK_SECRET, 3)[0] == "checkout.session.completed"
    with pytest.raises(stripe.SignatureVerificationError):
        delivery = second_receiver.deliveries[0]
        stripe.Webhook.construct_event(delivery.body, delivery.headers["Stripe-Signature"], WEBHOOK_SECRET)
    event = stripe_client.v1.events.list(params={"type": "charge.refunded"}).data[0]
    assert event.pending_webhooks == 2
    attempts = emulator.wait_for_deliveries(lambda d: d["event_id"] == event.id, count=2)
    assert {a["endpoint"] for a in attempts} == {
        created.id,
        stripe_client.v1.webhook_endpoints.list().data[-1].id,
    }


def test_an_endpoint_can_be_updated_disabled_and_deleted(
    emulator, stripe_client, second_receiver, create_session
):
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/nowhere", "enabled_events": ["checkout.session.expired"]}
    )

    updated = stripe_client.v1.webhook_endpoints.update(
        endpoint.id,
        params={"url": second_receiver.url, "enabled_events": ["checkout.session.completed"]},
    )
    emulator.pay(create_session().id)
    assert updated.url == second_receiver.url
    assert _types(second_receiver, endpoint.secret, 1) == ["checkout.session.completed"]

    disabled = stripe_client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    emulator.pay(create_session().id)
    emulator.wait_until_idle()
    assert disabled.status == "disabled" and len(second_receiver.deliveries) == 1

    deleted = stripe_client.v1.webhook_endpoints.delete(endpoint.id)
    assert (deleted.id, deleted.deleted) == (endpoint.id, True)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"


def test_a_resend_goes_to_each_endpoint_that_enables_the_event_or_to_one(
    emulator, stripe_client, webhook_receiver, second_receiver, create_session
):
    other = stripe_client.v1.webhook_endpoints.create(
        params={"url": second_receiver.url, "enabled_events": ["checkout.session.completed"]}
    )
    emulator.pay(create_session().id)
    [event] = stripe_client.v1.events.list().data
    second_receiver.wait_for(lambda d: True)
    webhook_receiver.wait_for(lambda d: True)

    emulator.resend(event.id, endpoint=other.id)
    second_receiver.wait_for(lambda d: True, count=2)
    emulator.resend(event.id)

    second_receiver.wait_for(lambda d: True, count=3)
    webhook_receiver.wait_for(lambda d: True, count=2)
    emulator.wait_until_idle()
    assert len(webhook_receiver.deliveries) == 2
    assert {d.body for d in second_receiver.deliveries} == {webhook_receiver.deliveries[0].body}
    assert [a["resend"] for a in emulator.deliveries(endpoint=other.id)] == [False, True, True]


def test_delivery_success_filters_events_by_their_deliveries(
    emulator, stripe_client, webhook_receiver, create_session
):
    emulator.configure(max_attempts=1)
    webhook_receiver.respond_with(500)
    emulator.pay(create_session().id)
    emulator.wait_until_idle()
    emulator.pay(create_session().id)
    emulator.wait_until_idle()
    time.sleep(0.05)

    failed = stripe_client.v1.events.list(params={"delivery_success": False}).data
    delivered = stripe_client.v1.events.list(params={"delivery_success": True}).data

    assert len(failed) == 1 and len(delivered) == 1 and failed[0].id != delivered[0].id


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"enabled_events": ["*"]}, "url", "parameter_missing"),
        ({"url": "http://127.0.0.1:9/x"}, "enabled_events", "parameter_missing"),
        ({"url": "not a url", "enabled_events": ["*"]}, "url", "url_invalid"),
        ({"url": "http://127.0.0.1:9/x", "enabled_events": ["charge.exploded"]}, "enabled_events[0]", None),
        ({"url": "http://127.0.0.1:9/x", "enabled_events": ["*"], "connect": True}, "connect", None),
    ],
)
def test_bad_endpoint_requests_are_refused_like_stripe(stripe_client, params, param, code):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.webhook_endpoints.create(params=params)

    error = caught.value.json_body["error"]
    assert (caught.value.http_status, error["param"], error.get("code")) == (400, param, code)
    assert len(stripe_client.v1.webhook_endpoints.list().data) == 1
