"""No database transaction stays open while the app waits for Stripe.

Stripe is made slow (every HTTP call to the stand-in waits a moment before it is sent),
and while each call waits, a separate connection asks PostgreSQL's `pg_stat_activity`
whether any session of the app's database has sat `idle in transaction` through it. A
transaction held across a slow Stripe call pins a pooled connection and its row locks
for the call's whole duration.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
import sqlalchemy as sa
import stripe

from creditapp.billing import packs
from creditapp.platform import stripe_client
from tests.conftest import STRIPE_KEY
from tests.support import stripe_helpers
from tests.support.stripe_helpers import csrf_token, paid_without_webhook, price_id
from tests.support.system import missing

stripe_env = stripe_helpers.stripe_env

SLOW_SECONDS = 0.4
# Between two statements a transaction is briefly idle; through a slow call it is idle for
# (nearly) all of it.
IDLE_THROUGH_CALL = "0.3 seconds"

IDLE_IN_TRANSACTION = f"""
SELECT pid, state, left(query, 200) AS query
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND now() - state_change > interval '{IDLE_THROUGH_CALL}'
"""


@dataclass
class Sighting:
    """One Stripe call and the sessions that sat idle in a transaction through it."""

    method: str
    url: str
    idle: list[tuple] = field(default_factory=list)


class SlowObservedStripe(stripe.RequestsClient):
    """The real HTTP client, each call delayed; pg_stat_activity is read just before it is sent."""

    def __init__(self, conninfo: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.observer = psycopg.connect(conninfo, autocommit=True)
        self.calls: list[Sighting] = []

    def request(self, method, url, headers, post_data=None):
        time.sleep(SLOW_SECONDS)
        sighting = Sighting(method, url, self.observer.execute(IDLE_IN_TRANSACTION).fetchall())
        self.calls.append(sighting)
        return super().request(method, url, headers, post_data)

    def close(self) -> None:
        super().close()
        self.observer.close()


@pytest.fixture
def slow_stripe(app, stripe_env, database_url, monkeypatch) -> Iterator[SlowObservedStripe]:
    """Route the app's Stripe calls through SlowObservedStripe (same stand-in, same SDK)."""
    if not database_url.startswith("postgresql"):
        missing("pg_stat_activity is PostgreSQL's: run with TEST_DATABASE_URL on PostgreSQL")
    conninfo = sa.make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    http = SlowObservedStripe(conninfo, timeout=stripe_client.TIMEOUT_SECONDS)
    client = stripe.StripeClient(
        STRIPE_KEY, base_addresses={"api": app.config["STRIPE_API_BASE"]}, http_client=http
    )
    monkeypatch.setitem(app.extensions, "stripe_client", client)
    yield http
    http.close()


def calls_with_idle_transactions(http: SlowObservedStripe) -> list[Sighting]:
    return [call for call in http.calls if call.idle]


def test_the_buy_page_loads_packs_from_stripe_outside_any_transaction(
    slow_stripe, client, make_user, sign_in_as
):
    sign_in_as(client, make_user())

    assert client.get("/buy-credits").status_code == 200

    assert [c.url.split("/v1/")[1].split("?")[0] for c in slow_stripe.calls] == ["prices"]
    assert calls_with_idle_transactions(slow_stripe) == []


def test_checkout_calls_stripe_outside_any_transaction(slow_stripe, client, make_user, sign_in_as):
    sign_in_as(client, make_user())
    token = csrf_token(client)  # loads the packs (one call)
    packs.cache.clear()  # the checkout loads them again, then creates the session

    response = client.post("/billing/checkout", data={"price_id": price_id(500), "csrf_token": token})

    assert response.status_code == 303
    assert any("checkout/sessions" in c.url for c in slow_stripe.calls)
    assert calls_with_idle_transactions(slow_stripe) == []


def test_the_success_page_retrieves_the_session_outside_any_transaction(
    stripe_env, live_server, slow_stripe, client, make_user, sign_in_as
):
    user = make_user()
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    slow_stripe.calls.clear()

    page = client.get(f"/checkout/success?session_id={session_id}")

    assert page.status_code == 200
    assert "500 credits were added" in page.get_data(as_text=True)
    assert [c.method for c in slow_stripe.calls] == ["get"]
    assert calls_with_idle_transactions(slow_stripe) == []
