"""The Stripe stand-in, called through the official ``stripe`` SDK exactly as the app calls it."""

from __future__ import annotations

import time

import pytest
import requests
import stripe

from emulators.stripe.forms import parse_nested


def test_seeded_packs_are_found_by_lookup_key_with_products_expanded(stripe_client):
    prices = stripe_client.v1.prices.list(
        params={
            "lookup_keys": ["credits_100", "credits_500", "credits_1000"],
            "active": True,
            "expand": ["data.product"],
        }
    )

    packs = {price.lookup_key: price for price in prices.data}
    assert {key: p.unit_amount for key, p in packs.items()} == {
        "credits_100": 500,
        "credits_500": 2000,
        "credits_1000": 3500,
    }
    for key, price in packs.items():
        assert isinstance(price, stripe.Price)
        assert price.currency == "usd" and price.type == "one_time" and price.livemode is False
        assert isinstance(price.product, stripe.Product)
        assert price.metadata["credits"] == key.removeprefix("credits_")
        assert price.product.name == f"{price.metadata['credits']} credits"


def test_price_list_returns_only_the_requested_lookup_keys(stripe_client):
    prices = stripe_client.v1.prices.list(params={"lookup_keys": ["credits_500"]})

    assert [price.lookup_key for price in prices.data] == ["credits_500"]
    assert prices.object == "list" and prices.has_more is False and prices.url == "/v1/prices"


def test_inactive_price_is_filtered_out_and_cannot_be_sold(stripe_client, price_ids, create_session):
    stripe_client.v1.prices.update(price_ids["credits_100"], params={"active": False})

    active = stripe_client.v1.prices.list(params={"active": True})
    assert price_ids["credits_100"] not in {price.id for price in active.data}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_session("credits_100")
    assert caught.value.param == "line_items[0][price]"


def test_checkout_session_is_created_open_with_a_hosted_url(emulator, create_session):
    session = create_session("credits_1000")

    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_")
    assert session.url == f"{emulator.base_url}/c/pay/{session.id}"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_total, session.currency) == (3500, "usd")
    assert session.client_reference_id == "user-42"
    assert session.metadata.to_dict() == {"purchase_id": "17"}
    assert session.customer_email == "buyer@example.com"
    assert session.payment_intent is None


def test_retrieve_expands_line_items_and_the_paid_payment_intent(
    emulator, stripe_client, create_session, price_ids
):
    session = create_session("credits_500")
    emulator.pay(session.id)

    paid = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items", "payment_intent.latest_charge"]}
    )

    assert paid.line_items.data[0].price.id == price_ids["credits_500"]
    assert paid.line_items.data[0].quantity == 1
    intent = paid.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.status == "succeeded" and intent.amount == 2000
    assert intent.metadata.to_dict() == {"purchase_id": "17", "user_id": "42"}
    assert isinstance(intent.latest_charge, stripe.Charge)
    assert intent.latest_charge.metadata.to_dict() == {"purchase_id": "17", "user_id": "42"}


def test_line_items_endpoint_lists_the_bought_price(stripe_client, create_session, price_ids):
    session = create_session("credits_100")

    items = stripe_client.v1.checkout.sessions.line_items.list(session.id)

    assert [(item.price.id, item.amount_total) for item in items.data] == [(price_ids["credits_100"], 500)]
    assert items.data[0].description == "100 credits"


def test_session_list_filters_by_status_and_created_and_pages(emulator, stripe_client, create_session):
    before = int(time.time())
    sessions = [create_session() for _ in range(3)]
    emulator.pay(sessions[1].id)

    complete = stripe_client.v1.checkout.sessions.list(
        params={"status": "complete", "created": {"gte": before}}
    )
    assert [s.id for s in complete.data] == [sessions[1].id]
    future = stripe_client.v1.checkout.sessions.list(params={"created": {"gt": before + 3600}})
    assert future.data == []

    first_page = stripe_client.v1.checkout.sessions.list(params={"limit": 2})
    assert first_page.has_more is True and len(first_page.data) == 2
    every = [s.id for s in first_page.auto_paging_iter()]
    assert every == [s.id for s in reversed(sessions)]


def test_expire_closes_an_open_session_once(stripe_client, create_session):
    session = create_session()

    expired = stripe_client.v1.checkout.sessions.expire(session.id)

    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.checkout.sessions.expire(session.id)
    assert caught.value.http_status == 400


def test_unknown_price_is_a_stripe_shaped_error(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [{"price": "price_doesnotexist", "quantity": 1}],
                "success_url": "http://127.0.0.1:5999/ok",
            }
        )

    error = caught.value
    assert error.http_status == 400
    assert error.code == "resource_missing"
    assert error.param == "line_items[0][price]"
    assert "price_doesnotexist" in error.user_message


def test_missing_line_items_is_parameter_missing(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.checkout.sessions.create(
            params={"mode": "payment", "success_url": "http://127.0.0.1:5999/ok"}
        )

    assert (caught.value.code, caught.value.param) == ("parameter_missing", "line_items")


def test_unknown_session_is_404_resource_missing(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.checkout.sessions.retrieve("cs_test_nope")

    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"


@pytest.mark.parametrize("key", ["sk_live_real_money", "pk_test_publishable", "nonsense"])
def test_keys_other_than_test_secret_keys_are_rejected(emulator, key):
    client = stripe.StripeClient(key, base_addresses={"api": emulator.base_url})

    with pytest.raises(stripe.AuthenticationError) as caught:
        client.v1.prices.list()

    assert caught.value.http_status == 401


def test_missing_api_key_is_401_with_a_stripe_error_body(emulator):
    response = requests.get(f"{emulator.base_url}/v1/prices", timeout=5)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "API key" in error["message"]
    assert None not in error.values()  # Stripe leaves out a code or param it does not have


def test_same_idempotency_key_replays_the_same_session(stripe_client):
    params = {
        "mode": "payment",
        "line_items": [{"price": _price(stripe_client, "credits_100"), "quantity": 1}],
        "success_url": "http://127.0.0.1:5999/ok",
    }
    first = stripe_client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "buy-17"})
    again = stripe_client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "buy-17"})

    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(stripe_client.v1.checkout.sessions.list().data) == 1


def test_idempotency_key_reused_with_other_params_is_an_idempotency_error(stripe_client):
    params = {
        "mode": "payment",
        "line_items": [{"price": _price(stripe_client, "credits_100"), "quantity": 1}],
        "success_url": "http://127.0.0.1:5999/ok",
    }
    stripe_client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k-1"})

    with pytest.raises(stripe.IdempotencyError) as caught:
        stripe_client.v1.checkout.sessions.create(
            params={**params, "client_reference_id": "someone-else"},
            options={"idempotency_key": "k-1"},
        )

    assert caught.value.http_status == 400
    assert caught.value.json_body["error"]["type"] == "idempotency_error"


def test_partial_refunds_accumulate_and_over_refunds_fail(emulator, stripe_client, create_session):
    session = create_session("credits_500")
    paid = emulator.pay(session.id)["session"]
    intent = stripe_client.v1.payment_intents.retrieve(paid["payment_intent"])

    by_intent = stripe_client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    by_charge = stripe_client.v1.refunds.create(params={"charge": intent.latest_charge, "amount": 1000})

    assert isinstance(by_intent, stripe.Refund) and by_intent.id.startswith("re_")
    assert (by_intent.charge, by_charge.payment_intent) == (intent.latest_charge, intent.id)
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1500, False)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 501})
    assert (caught.value.http_status, caught.value.code) == (400, "amount_too_large")

    rest = stripe_client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 500
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (2000, True)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert caught.value.code == "charge_already_refunded"


def test_refund_of_an_unpaid_intent_is_refused(emulator, stripe_client, create_session):
    session = create_session()
    intent_id = emulator.pay(session.id, "async_pending")["session"]["payment_intent"]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"payment_intent": intent_id})

    assert caught.value.http_status == 400


def test_events_are_recorded_listed_by_type_and_retrievable(emulator, stripe_client, create_session):
    session = create_session()
    emulator.pay(session.id)
    emulator.expire(create_session().id)

    completed = stripe_client.v1.events.list(params={"type": "checkout.session.completed"})
    assert [event.data.object.id for event in completed.data] == [session.id]
    everything = stripe_client.v1.events.list(params={"type": "checkout.session.*"})
    assert {e.type for e in everything.data} == {
        "checkout.session.completed",
        "checkout.session.expired",
    }

    event = stripe_client.v1.events.retrieve(completed.data[0].id)
    assert isinstance(event, stripe.Event)
    assert isinstance(event.data.object, stripe.checkout.Session)
    assert event.data.object.payment_status == "paid"
    assert event.api_version and event.livemode is False and event.pending_webhooks == 1


def test_sdk_style_nested_form_params_become_dicts_and_lists():
    parsed = parse_nested(
        [
            ("line_items[0][price]", "price_a"),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][price]", "price_b"),
            ("expand[0]", "line_items"),
            ("lookup_keys[]", "credits_100"),
            ("lookup_keys[]", "credits_500"),
            ("metadata[purchase_id]", "7"),
            ("created[gte]", "100"),
        ]
    )

    assert parsed == {
        "line_items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "expand": ["line_items"],
        "lookup_keys": ["credits_100", "credits_500"],
        "metadata": {"purchase_id": "7"},
        "created": {"gte": "100"},
    }


def _price(client: stripe.StripeClient, lookup_key: str) -> str:
    return client.v1.prices.list(params={"lookup_keys": [lookup_key]}).data[0].id


def test_list_filters_the_stand_in_accepts_do_filter(emulator, stripe_client, create_session, price_ids):
    paid = create_session("credits_100", customer_email="one@example.com")
    other = create_session("credits_500")
    intent_id = emulator.pay(paid.id, email="one@example.com")["session"]["payment_intent"]
    emulator.pay(other.id)
    stripe_client.v1.prices.update(price_ids["credits_1000"], params={"active": False})

    by_email = stripe_client.v1.checkout.sessions.list(
        params={"customer_details": {"email": "one@example.com"}}
    )
    by_intent = stripe_client.v1.checkout.sessions.list(params={"payment_intent": intent_id})
    charges = stripe_client.v1.charges.list(params={"payment_intent": intent_id})
    inactive = stripe_client.v1.prices.list(params={"active": False})
    euro = stripe_client.v1.prices.list(params={"currency": "eur"})
    recurring = stripe_client.v1.prices.list(params={"type": "recurring"})
    products = stripe_client.v1.prices.list(params={"product": inactive.data[0].product})

    assert [s.id for s in by_email.data] == [paid.id] and [s.id for s in by_intent.data] == [paid.id]
    assert [c.payment_intent for c in charges.data] == [intent_id]
    assert [p.id for p in inactive.data] == [price_ids["credits_1000"]] == [p.id for p in products.data]
    assert euro.data == [] and recurring.data == []
    assert {p.active for p in stripe_client.v1.products.list(params={"active": True}).data} == {True}


@pytest.mark.parametrize("offset", [60, 25 * 3600])
def test_expires_at_outside_stripes_window_is_refused(create_session, offset):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        create_session(expires_at=int(time.time()) + offset)

    assert (caught.value.http_status, caught.value.param) == (400, "expires_at")


def test_a_session_that_expires_in_an_hour_says_so(create_session):
    expires_at = int(time.time()) + 3600

    assert create_session(expires_at=expires_at).expires_at == expires_at


def test_a_list_expands_only_paths_under_data(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.prices.list(params={"expand": ["product"]})

    assert caught.value.param == "expand" and "data.product" in caught.value.user_message
