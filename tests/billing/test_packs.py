"""The packs page under a slow or failing Stripe, with real threads: one call, never a queue."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import pytest
import stripe

from creditapp.billing import packs
from tests.conftest import STRIPE_KEY, free_port
from tests.support import stripe_helpers
from tests.support.threads import race

stripe_env = stripe_helpers.stripe_env

VISITORS = 6
PACK_CREDITS = re.compile(r'<span class="pack-credits">(\d+) credits</span>')


class GatedStripe(stripe.RequestsClient):
    """The real HTTP client, except each call waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(timeout=10)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        self._count = threading.Lock()

    def request(self, method, url, headers, post_data=None):
        with self._count:
            self.calls += 1
        self.started.set()
        self.gate.wait(timeout=15)
        return super().request(method, url, headers, post_data)


@pytest.fixture
def use_stripe(app, monkeypatch):
    """Point the app at a Stripe reached through a GatedStripe (`down=True`: nobody listens)."""

    def use(http: GatedStripe, down: bool = False) -> GatedStripe:
        base = f"http://127.0.0.1:{free_port()}" if down else app.config["STRIPE_API_BASE"]
        client = stripe.StripeClient(
            STRIPE_KEY, base_addresses={"api": base}, http_client=http, max_network_retries=0
        )
        monkeypatch.setitem(app.extensions, "stripe_client", client)
        return http

    return use


@pytest.fixture
def visitors(app, make_user, sign_in_as):
    """Signed-in test clients, one per thread."""
    return [sign_in_as(app.test_client(), make_user()) for _ in range(VISITORS)]


def buy_page(client) -> tuple[int, list[str]]:
    page = client.get("/buy-credits")
    return page.status_code, PACK_CREDITS.findall(page.get_data(as_text=True))


def test_visitors_during_a_slow_refresh_get_the_last_good_packs_without_waiting(
    stripe_env, app, use_stripe, visitors, monkeypatch
):
    monkeypatch.setattr(packs.cache, "ttl", 0)  # packs go stale as soon as they are loaded
    stripe = use_stripe(GatedStripe())
    stripe.gate.set()
    assert buy_page(visitors[0]) == (200, ["100", "500", "1000"])
    stripe.gate.clear()
    stripe.started.clear()

    with ThreadPoolExecutor(VISITORS) as pool:
        refreshing = pool.submit(_in_context, app, buy_page, visitors[0])
        assert stripe.started.wait(10), "the refresh should have called Stripe"
        others = [pool.submit(_in_context, app, buy_page, v) for v in visitors[1:]]
        finished, _ = wait(others, timeout=8)
        answered_while_stripe_hung = len(finished)
        stripe.gate.set()
        answers = [f.result() for f in others]

    assert answered_while_stripe_hung == len(others), "visitors queued behind the refresh"
    assert answers == [(200, ["100", "500", "1000"])] * len(others)
    assert refreshing.result() == (200, ["100", "500", "1000"])
    assert stripe.calls == 2  # the first load and the one refresh


def test_a_cold_cache_with_stripe_down_costs_one_call_however_many_visitors_arrive(
    stripe_env, app, use_stripe, visitors
):
    stripe = use_stripe(GatedStripe(), down=True)
    threading.Timer(0.5, stripe.gate.set).start()  # Stripe "answers" (refuses) after a while

    answers = race(app, lambda i: buy_page(visitors[i]), VISITORS)

    assert answers == [(503, [])] * VISITORS
    assert stripe.calls == 1
    # The failure is remembered for a moment: the next visitors don't call Stripe either.
    assert [buy_page(v)[0] for v in visitors] == [503] * VISITORS
    assert stripe.calls == 1


def test_when_stripe_fails_the_last_good_packs_are_served_and_stripe_is_not_hammered(
    stripe_env, app, use_stripe, visitors, monkeypatch
):
    monkeypatch.setattr(packs.cache, "ttl", 0)
    assert buy_page(visitors[0]) == (200, ["100", "500", "1000"])
    down = use_stripe(GatedStripe(), down=True)
    down.gate.set()

    answers = [buy_page(v) for v in visitors]

    assert answers == [(200, ["100", "500", "1000"])] * VISITORS
    assert down.calls == 1
    # Checkout still finds the pack among the last good ones (and fails only at Stripe).
    assert packs.find_pack(stripe_helpers.price_id(500)).credits == 500


def _in_context(app, fn, *args):
    with app.app_context():
        return fn(*args)
