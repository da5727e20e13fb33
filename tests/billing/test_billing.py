"""Buying credits: the packs page, Checkout, and the success and cancel pages."""

from __future__ import annotations

import json
import logging
import re

from creditapp import ledger
from creditapp.billing import packs
from creditapp.platform import stripe_client
from tests.conftest import STRIPE_KEY, free_port
from tests.support import stripe_helpers
from tests.support.stripe_helpers import (
    checkout,
    credits,
    csrf_token,
    event,
    paid_without_webhook,
    post_event,
    price_id,
    purchase,
    purchase_count,
    wait_for_credits,
)
from tests.support.threads import race

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def _pack_rows(html: str) -> list[tuple[str, str, str]]:
    names = re.findall(r'<h2 class="pack-name">([^<]+)</h2>', html)
    amounts = re.findall(r'<span class="pack-credits">(\d+) credits</span>', html)
    prices = re.findall(r'<span class="pack-price">([^<]+)</span>', html)
    return list(zip(names, amounts, prices, strict=True))


def test_buy_credits_lists_the_three_packs_with_their_prices(stripe_env, client, make_user, sign_in_as):
    sign_in_as(client, make_user())

    page = client.get("/buy-credits")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _pack_rows(html) == [
        ("100 credits", "100", "$5.00"),
        ("500 credits", "500", "$20.00"),
        ("1000 credits", "1000", "$35.00"),
    ]
    assert html.count('action="/billing/checkout"') == 3
    assert html.count('name="csrf_token"') >= 3
    assert f'name="price_id" value="{price_id(500)}"' in html


def test_pricing_table_is_open_to_signed_out_visitors_and_asks_them_to_sign_in_to_buy(stripe_env, client):
    page = client.get("/buy-credits")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert [row[1] for row in _pack_rows(html)] == ["100", "500", "1000"]
    assert re.findall(r'<dd class="pack-per-credit">([^<]+)</dd>', html) == ["$0.05", "$0.04", "$0.035"]
    assert re.findall(r'<dd class="pack-saving">([^<]+)</dd>', html) == [
        "—",
        "20% vs the 100 pack",
        "30% vs the 100 pack",
    ]
    assert re.findall(r'<dd class="pack-images">([^<]+)</dd>', html) == [
        "10 images at 512 px",
        "50 images at 512 px",
        "100 images at 512 px",
    ]
    assert 'action="/billing/checkout"' not in html
    assert html.count('href="/login?next=/buy-credits"') == 3


def test_checkout_still_needs_a_sign_in(stripe_env, client):
    response = client.post("/billing/checkout", data={"price_id": price_id(500)})

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_packs_are_cached_instead_of_fetched_on_every_page_view(
    stripe_env, app, client, make_user, sign_in_as
):
    sign_in_as(client, make_user())
    assert client.get("/buy-credits").status_code == 200
    loads = packs.cache.loads
    stripe_client.client().v1.prices.update(price_id(500), params={"metadata": {"credits": "600"}})

    cached = client.get("/buy-credits").get_data(as_text=True)

    assert packs.cache.loads == loads
    assert ("500 credits", "500", "$20.00") in _pack_rows(cached)
    packs.cache.clear()
    fresh = client.get("/buy-credits").get_data(as_text=True)
    assert ("500 credits", "600", "$20.00") in _pack_rows(fresh)


def test_buy_credits_says_so_when_stripe_cannot_be_reached(
    stripe_env, app, client, make_user, sign_in_as, monkeypatch
):
    sign_in_as(client, make_user())
    unreachable = stripe_client.build_client(STRIPE_KEY, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setitem(app.extensions, "stripe_client", unreachable)

    page = client.get("/buy-credits")

    assert page.status_code == 503
    assert "Credit packs cannot be loaded right now" in page.get_data(as_text=True)


def test_a_price_without_valid_credits_metadata_is_left_out_and_logged(
    stripe_env, app, client, make_user, sign_in_as, monkeypatch, caplog
):
    stripe_client.client().v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 999,
            "product_data": {"name": "Mystery pack"},
            "lookup_key": "credits_mystery",
            "metadata": {"credits": "lots"},
        }
    )
    monkeypatch.setitem(app.config, "CREDIT_PACK_LOOKUP_KEYS", ["credits_mystery", "credits_100"])
    sign_in_as(client, make_user())

    with caplog.at_level(logging.WARNING, logger="creditapp.packs"):
        page = client.get("/buy-credits").get_data(as_text=True)

    assert _pack_rows(page) == [("100 credits", "100", "$5.00")]
    assert "Mystery pack" not in page
    assert any("credits_mystery" in record.getMessage() for record in caplog.records)


def test_checkout_creates_a_pending_purchase_and_redirects_to_stripe(
    stripe_env, client, make_user, sign_in_as
):
    user = make_user()
    sign_in_as(client, user)

    response = client.post(
        "/billing/checkout", data={"price_id": price_id(500), "csrf_token": csrf_token(client)}
    )

    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{stripe_env.base_url}/c/pay/cs_")
    session_id = response.headers["Location"].rsplit("/", 1)[-1]
    bought = purchase(session_id)
    assert (bought.user_id, bought.status, bought.credits_purchased) == (user, "pending", 500)
    assert (bought.amount_paid, bought.currency, bought.stripe_price_id) == (2000, "usd", price_id(500))
    stripe_session = stripe_helpers.session(session_id)
    assert stripe_session["client_reference_id"] == str(user)
    assert stripe_session["metadata"] == {"purchase_id": str(bought.id), "user_id": str(user)}
    assert stripe_session["success_url"].endswith("/checkout/success?session_id={CHECKOUT_SESSION_ID}")
    assert stripe_session["amount_total"] == 2000


def test_checkout_from_htmx_answers_with_hx_redirect(stripe_env, client, make_user, sign_in_as):
    sign_in_as(client, make_user())
    token = csrf_token(client)

    response = client.post(
        "/billing/checkout",
        data={"price_id": price_id(100)},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )

    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith(f"{stripe_env.base_url}/c/pay/cs_")


def test_checkout_refuses_a_price_that_is_not_a_pack_and_writes_nothing(
    stripe_env, client, make_user, sign_in_as
):
    sign_in_as(client, make_user())
    token = csrf_token(client)
    other = stripe_client.client().v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1,
            "product_data": {"name": "Cheap"},
            "metadata": {"credits": "9"},
        }
    )

    answers = [
        client.post("/billing/checkout", data={"price_id": value, "csrf_token": token}).status_code
        for value in ("price_doesnotexist", other.id, "")
    ]
    without_csrf = client.post("/billing/checkout", data={"price_id": price_id(500)})

    assert answers == [400, 400, 400]
    assert without_csrf.status_code == 400
    assert purchase_count() == 0


def test_amounts_or_credits_sent_by_the_client_are_ignored(stripe_env, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)

    session_id = checkout(client, 100, amount="1", amount_paid="1", credits="99999", currency="jpy")
    stripe_env.pay(session_id)

    wait_for_credits(user, 600)
    bought = purchase(session_id)
    assert (bought.credits_purchased, bought.amount_paid, bought.currency) == (100, 500, "usd")


def test_checkout_when_stripe_is_unreachable_fails_cleanly(
    stripe_env, app, client, make_user, sign_in_as, monkeypatch
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    token = csrf_token(client)  # also warms the pack cache
    unreachable = stripe_client.build_client(STRIPE_KEY, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setitem(app.extensions, "stripe_client", unreachable)

    response = client.post("/billing/checkout", data={"price_id": price_id(500), "csrf_token": token})

    assert response.status_code == 503
    assert "Nothing was charged" in response.get_data(as_text=True)
    assert purchase_count() == 1
    assert stripe_helpers.only_purchase().status == "failed"
    assert credits(user) == 500


def test_checkout_refused_by_stripe_answers_502(stripe_env, app, client, make_user, sign_in_as, monkeypatch):
    sign_in_as(client, make_user())
    token = csrf_token(client)
    refusing = stripe_client.build_client("sk_live_not_accepted", app.config["STRIPE_API_BASE"])
    monkeypatch.setitem(app.extensions, "stripe_client", refusing)

    response = client.post("/billing/checkout", data={"price_id": price_id(500), "csrf_token": token})

    assert response.status_code == 502
    assert stripe_helpers.only_purchase().status == "failed"


def test_success_page_credits_a_paid_session_the_webhook_has_not_delivered(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)

    page = client.get(f"/checkout/success?session_id={session_id}")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "500 credits were added" in html
    assert 'hx-trigger="load delay' not in html  # paid: the receipt no longer polls
    assert credits(user) == 1000
    assert client.get(f"/credits/badge?until={session_id}").status_code == 286
    assert client.get(f"/checkout/success?session_id={session_id}").status_code == 200
    assert credits(user) == 1000


def test_success_page_while_a_delayed_payment_is_processing_keeps_polling(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client, "async_pending")

    page = client.get(f"/checkout/success?session_id={session_id}")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<h1 id="receipt-heading">Payment processing</h1>' in html
    assert f"/checkout/success?session_id={session_id}&amp;poll=1" in html
    assert credits(user) == 500
    assert client.get(f"/credits/badge?until={session_id}").status_code == 200


def test_success_page_for_someone_elses_or_a_forged_session_is_404(
    stripe_env, app, live_server, client, make_user, sign_in_as
):
    owner = make_user(credits=500)
    sign_in_as(client, owner)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    intruder = make_user(credits=500)
    other_client = app.test_client()
    sign_in_as(other_client, intruder)

    answers = []
    for value in (session_id, "cs_test_forged0000", "not-a-session", ""):
        # A fresh app context per request, as in production: Flask-Login caches the user in `g`.
        with app.app_context():
            answers.append(other_client.get(f"/checkout/success?session_id={value}").status_code)

    assert answers == [404, 404, 404, 404]
    assert purchase(session_id).status == "pending"
    assert (credits(owner), credits(intruder)) == (500, 500)


def test_success_page_and_webhook_racing_credit_once(
    stripe_env, app, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    body = json.dumps(event("checkout.session.completed", session_id)).encode()

    def arrive(i: int) -> int:
        if i == 0:
            return client.get(f"/checkout/success?session_id={session_id}").status_code
        return post_event(live_server, body).status_code

    assert race(app, arrive, 2) == [200, 200]
    assert credits(user) == 1000
    assert purchase(session_id).status == "completed"
    assert ledger.audit() == []


def test_cancel_page_says_nothing_was_charged(stripe_env, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)

    page = client.get("/checkout/cancel")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Nothing was charged" in html
    assert 'href="/buy-credits"' in html
    assert credits(user) == 500
