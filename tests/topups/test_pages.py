"""The auto top-up page: the saved card, removing it, the rules, and refusals that keep the input."""

from __future__ import annotations

from creditapp.platform import stripe_client
from tests.support.stripe_helpers import csrf_token, price_id
from tests.topups.conftest import settings


def test_the_page_shows_the_saved_card_and_the_cap_in_money(app, topups, client, card_user):
    user = card_user(start=100)
    client.post(
        "/account/auto-recharge",
        data={
            "enabled": "1",
            "threshold": "50",
            "price_id": price_id(500),
            "monthly_cap": "3",
            "csrf_token": csrf_token(client),
        },
    )

    page = client.get("/account/auto-recharge").get_data(as_text=True)

    assert "Visa ending in 4242" in page
    assert "Automatic top-up is <strong>on</strong>" in page
    assert "$60.00" in page  # 3 × the $20.00 pack
    assert settings(user).pack_credits == 500


def test_removing_the_card_is_a_quiet_button_that_asks_first_then_detaches_and_switches_off(
    app, topups, client, card_user
):
    user = card_user(start=100)
    method = settings(user).payment_method_id
    offer = client.get("/account/auto-recharge").get_data(as_text=True)

    # Without JavaScript: the button's POST only asks; nothing is removed yet.
    asked = client.post("/account/auto-recharge/card/remove", data={"csrf_token": csrf_token(client)})
    kept = settings(user).payment_method_id
    confirmed = client.post(
        "/account/auto-recharge/card/remove", data={"csrf_token": csrf_token(client), "confirm": "yes"}
    )

    assert '<button type="submit" class="secondary danger">Remove this card…</button>' in offer
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Remove Visa ending in 4242?" in page
    assert 'name="confirm" value="yes"' in page and 'class="danger">Remove the card</button>' in page
    assert kept == method
    assert confirmed.status_code == 303
    assert stripe_client.client().v1.payment_methods.retrieve(method).customer is None
    assert settings(user).payment_method_id is None and not settings(user).enabled
    assert "No card saved." in client.get("/account/auto-recharge").get_data(as_text=True)


def test_switching_on_without_a_card_is_refused_and_keeps_what_was_typed(
    app, topups, client, make_user, sign_in_as
):
    user = make_user()
    sign_in_as(client, user)

    response = client.post(
        "/account/auto-recharge",
        data={
            "enabled": "1",
            "threshold": "75",
            "price_id": price_id(100),
            "monthly_cap": "2",
            "csrf_token": csrf_token(client),
        },
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Save a card first" in page and 'value="75"' in page and 'value="2"' in page
    assert settings(user) is None


def test_a_bad_threshold_is_a_400_that_writes_nothing(app, topups, client, card_user):
    user = card_user(start=100)

    response = client.post(
        "/account/auto-recharge",
        data={
            "enabled": "1",
            "threshold": "-5",
            "price_id": price_id(100),
            "monthly_cap": "3",
            "csrf_token": csrf_token(client),
        },
    )

    assert response.status_code == 400
    assert 'value="-5"' in response.get_data(as_text=True)
    assert not settings(user).enabled
