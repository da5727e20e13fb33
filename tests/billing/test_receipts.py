"""The checkout receipt: an honest heading for each state, live until the payment settles."""

from __future__ import annotations

import re

from tests.support import stripe_helpers
from tests.support.stripe_helpers import (
    checkout,
    credits,
    paid_without_webhook,
    session,
    wait_for_credits,
)

stripe_env = stripe_helpers.stripe_env

HTMX = {"HX-Request": "true"}


def heading(html: str) -> str:
    return re.search(r'<h1 id="receipt-heading">([^<]+)</h1>', html).group(1)


def test_a_paid_receipt_shows_amount_pack_new_balance_and_stripes_receipt_link(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    charge = session(session_id, "payment_intent.latest_charge")["payment_intent"]["latest_charge"]

    html = client.get(f"/checkout/success?session_id={session_id}").get_data(as_text=True)

    assert heading(html) == "Payment received"
    assert '<dd class="receipt-amount">$20.00</dd>' in html
    assert '<dd class="receipt-pack">500 credits</dd>' in html
    assert '<dd class="receipt-balance">1,000 credits</dd>' in html
    assert f'href="{charge["receipt_url"]}"' in html
    assert "Generate an image" in html


def test_a_delayed_payment_receipt_polls_with_back_off_then_says_paid_and_stops(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client, "async_pending")

    first = client.get(f"/checkout/success?session_id={session_id}&poll=0", headers=HTMX)
    later = client.get(f"/checkout/success?session_id={session_id}&poll=6", headers=HTMX)
    stripe_env.settle(session_id, "succeeded")
    wait_for_credits(user, 1000)
    settled = client.get(f"/checkout/success?session_id={session_id}&poll=7", headers=HTMX)

    assert first.status_code == 200 and heading(first.get_data(as_text=True)) == "Payment processing"
    assert "up to 4 business days" in first.get_data(as_text=True)
    delays = [
        float(re.search(r'hx-trigger="load delay:([0-9.]+)s"', r.get_data(as_text=True)).group(1))
        for r in (first, later)
    ]
    assert delays[0] < delays[1]
    assert settled.status_code == 286  # htmx stops polling
    assert "credits-changed" in settled.headers["HX-Trigger"]
    assert heading(settled.get_data(as_text=True)) == "Payment received"
    assert 'hx-trigger="load delay' not in settled.get_data(as_text=True)


def test_a_failed_delayed_payment_says_so_and_never_thanks(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client, "async_pending")
    stripe_env.settle(session_id, "failed")
    stripe_helpers.wait_for(lambda: stripe_helpers.purchase(session_id).status == "failed", what="failed")

    answer = client.get(f"/checkout/success?session_id={session_id}&poll=3", headers=HTMX)

    html = answer.get_data(as_text=True)
    assert answer.status_code == 286
    assert heading(html) == "Payment failed"
    assert "Thank you" not in html
    assert "nothing was charged" in html
    assert credits(user) == 500


def test_an_expired_checkout_says_expired_and_never_thanks(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    stripe_env.expire(session_id)
    stripe_helpers.wait_for(lambda: stripe_helpers.purchase(session_id).status == "expired", what="expired")

    html = client.get(f"/checkout/success?session_id={session_id}").get_data(as_text=True)

    assert heading(html) == "Checkout expired"
    assert "Thank you" not in html
    assert "<title>Thank you" not in html
    assert credits(user) == 500
