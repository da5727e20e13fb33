"""Receipt pages ask Stripe only while a purchase is in flight, and within a per-person budget.

Each Stripe call spends the account-wide rate limit that checkout creation and webhooks
share, so the stand-in's request log is counted across repeated page loads.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditPurchase
from tests.support import stripe_helpers
from tests.support.stripe_helpers import checkout, credits, paid_without_webhook, purchase, session

stripe_env = stripe_helpers.stripe_env

HTMX = {"HX-Request": "true"}


def heading(html: str) -> str:
    return re.search(r'<h1 id="receipt-heading">([^<]+)</h1>', html).group(1)


@pytest.fixture
def stripe_read_budget(app, monkeypatch):
    """Rate limits on, with a budget of 2 Stripe reads a minute per person, counted afresh."""
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
    monkeypatch.setitem(app.config, "RATELIMIT_STRIPE_READS", "2/minute")
    app.extensions.pop("stripe_read_limiter", None)
    yield
    app.extensions.pop("stripe_read_limiter", None)


def test_a_paid_purchase_is_answered_from_the_database_with_no_stripe_call(
    stripe_env, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    stripe_env.pay(session_id)
    stripe_env.wait_until_idle()  # the webhook credited it and read the payment back
    receipt_url = session(session_id, "payment_intent.latest_charge")["payment_intent"]["latest_charge"][
        "receipt_url"
    ]
    purchase_id = purchase(session_id).id
    before = len(stripe_env.stripe_requests())

    pages = [client.get(f"/checkout/success?session_id={session_id}") for _ in range(3)]
    polls = [client.get(f"/checkout/success?session_id={session_id}&poll=2", headers=HTMX) for _ in range(3)]
    links = [client.get(f"/history/purchases/{purchase_id}/receipt") for _ in range(3)]

    assert len(stripe_env.stripe_requests()) == before
    html = pages[-1].get_data(as_text=True)
    assert all(page.status_code == 200 for page in pages) and heading(html) == "Payment received"
    assert f'href="{receipt_url}"' in html and "Visa ending in 4242" in html
    assert all(poll.status_code == 286 for poll in polls)
    assert all(link.status_code == 303 and link.headers["Location"] == receipt_url for link in links)
    assert credits(user) == 1000


def test_an_expired_checkout_is_answered_from_the_database_with_no_stripe_call(
    stripe_env, client, make_user, sign_in_as
):
    sign_in_as(client, make_user())
    session_id = checkout(client, 100)
    stripe_env.expire(session_id)
    stripe_env.wait_until_idle()
    before = len(stripe_env.stripe_requests())

    pages = [client.get(f"/checkout/success?session_id={session_id}") for _ in range(3)]

    assert len(stripe_env.stripe_requests()) == before
    assert all(heading(page.get_data(as_text=True)) == "Checkout expired" for page in pages)


def test_a_payment_in_flight_reads_stripe_within_the_budget_then_shows_what_the_database_knows(
    stripe_env, stripe_read_budget, live_server, client, make_user, sign_in_as
):
    sign_in_as(client, make_user(credits=500))
    session_id = paid_without_webhook(stripe_env, live_server, client, "async_pending")
    before = len(stripe_env.stripe_requests("/v1/checkout/sessions/"))

    polls = [
        client.get(f"/checkout/success?session_id={session_id}&poll={n}", headers=HTMX) for n in range(5)
    ]

    assert len(stripe_env.stripe_requests("/v1/checkout/sessions/")) == before + 2
    assert [poll.status_code for poll in polls] == [200] * 5  # never an error page
    assert {heading(poll.get_data(as_text=True)) for poll in polls} == {"Payment processing"}
    assert all("hx-trigger=" in poll.get_data(as_text=True) for poll in polls)  # still polling


def test_a_receipt_link_not_yet_stored_is_read_once_then_kept_and_rationed(
    stripe_env, stripe_read_budget, client, make_user, sign_in_as
):
    user = make_user()
    sign_in_as(client, user)
    purchase_ids = []
    for _ in range(3):
        session_id = checkout(client, 100)
        stripe_env.pay(session_id)
        purchase_ids.append(purchase(session_id).id)
    stripe_env.wait_until_idle()
    # As a purchase from before receipts were stored: nothing but its PaymentIntent is known.
    db.session.execute(sa.update(CreditPurchase).values(receipt_url=None))
    db.session.commit()
    before = len(stripe_env.stripe_requests())

    first = [client.get(f"/history/purchases/{purchase_ids[0]}/receipt") for _ in range(3)]
    second = client.get(f"/history/purchases/{purchase_ids[1]}/receipt")
    third = client.get(f"/history/purchases/{purchase_ids[2]}/receipt")

    assert len(stripe_env.stripe_requests()) == before + 2
    assert all(r.status_code == 303 for r in first) and second.status_code == 303
    assert third.status_code == 429 and int(third.headers["Retry-After"]) >= 1
    assert "try again in" in third.get_data(as_text=True)
