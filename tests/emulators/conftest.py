"""Fixtures for the emulator tests: one emulator subprocess, a webhook receiver, SDK clients.

These fixtures need no database and no app: the emulators are tested through the real
``stripe`` SDK, Authlib and joserfc, exactly as the app reaches them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from tests.support.emulator import EmulatorProcess

from .stripe_spec import TOTALS

WEBHOOK_SECRET = "whsec_emulator_tests"
CLIENT_ID = "emulator-tests.apps.example"
CLIENT_SECRET = "emulator-tests-secret"
CALLBACK = "http://127.0.0.1:5999/auth/callback"
SUCCESS_URL = "http://127.0.0.1:5999/checkout/success?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://127.0.0.1:5999/checkout/cancel"
FAST_RETRIES = {"max_attempts": 3, "retry_base_seconds": 0.05}


@dataclass
class Delivery:
    """One webhook POST as the receiver saw it."""

    body: bytes
    headers: dict[str, str]
    status: int

    @property
    def event_type(self) -> str:
        """Return the event type, read with the SDK after verifying the signature."""
        return self.event().type

    def event(self) -> stripe.Event:
        """Verify the signature and parse the body as Stripe's SDK does."""
        return stripe.Webhook.construct_event(self.body, self.headers["Stripe-Signature"], WEBHOOK_SECRET)


class WebhookReceiver:
    """A tiny HTTP server standing in for the app's webhook endpoint."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._statuses: list[int] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver._record(body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhooks/stripe"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, body: bytes, headers: dict[str, str]) -> int:
        with self._cond:
            status = self._statuses.pop(0) if self._statuses else 200
            self.deliveries.append(Delivery(body, headers, status))
            self._cond.notify_all()
            return status

    def respond_with(self, *statuses: int) -> None:
        """Answer the next POSTs with these statuses, then 200 again."""
        with self._cond:
            self._statuses = list(statuses)

    def clear(self) -> None:
        """Forget what was received and any scripted statuses."""
        with self._cond:
            self.deliveries.clear()
            self._statuses.clear()

    def wait_for(
        self, predicate: Callable[[Delivery], bool], count: int = 1, timeout: float = 10.0
    ) -> list[Delivery]:
        """Wait until ``count`` received POSTs satisfy ``predicate``; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [delivery for delivery in self.deliveries if predicate(delivery)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(found)}/{count} webhooks after {timeout}s")
                self._cond.wait(remaining)

    def of_type(self, event_type: str, count: int = 1, timeout: float = 10.0) -> list[Delivery]:
        """Wait for ``count`` deliveries of one event type."""
        return self.wait_for(lambda d: d.event_type == event_type, count, timeout)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """The local endpoint the emulator posts webhooks to."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def emulator(webhook_receiver: WebhookReceiver) -> Iterator[EmulatorProcess]:
    """One ``python -m emulators`` subprocess for the whole emulator test run."""
    with EmulatorProcess(
        webhook_url=webhook_receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        google_redirect_uris=[CALLBACK],
        **FAST_RETRIES,
    ) as process:
        yield process


@pytest.fixture(autouse=True)
def fresh_emulator(emulator: EmulatorProcess, webhook_receiver: WebhookReceiver) -> None:
    """Start every test from seeded prices, no events, default settings, empty receiver."""
    emulator.reset()  # drops queued and scheduled webhook attempts
    emulator.wait_until_idle()  # and lets one already on the wire land before the receiver clears
    emulator.configure(
        webhook_url=webhook_receiver.url,
        webhooks_enabled=True,
        google_redirect_uris=[CALLBACK],
        **FAST_RETRIES,
    )
    webhook_receiver.clear()


@pytest.fixture
def stripe_client(emulator: EmulatorProcess) -> stripe.StripeClient:
    """The official SDK pointed at the emulator, without its own network retries."""
    return stripe.StripeClient(
        "sk_test_emulator_tests",
        base_addresses={"api": emulator.base_url},
        max_network_retries=0,
    )


@pytest.fixture
def price_ids(stripe_client: stripe.StripeClient) -> dict[str, str]:
    """Seeded price ids by lookup key."""
    prices = stripe_client.v1.prices.list(
        params={"lookup_keys": ["credits_100", "credits_500", "credits_1000"]}
    )
    return {price.lookup_key: price.id for price in prices.data}


@pytest.fixture
def create_session(
    stripe_client: stripe.StripeClient, price_ids: dict[str, str]
) -> Callable[..., stripe.checkout.Session]:
    """Create a Checkout Session the way the app does (``lookup_key`` picks the pack)."""

    def create(lookup_key: str = "credits_500", **overrides: Any) -> stripe.checkout.Session:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{"price": price_ids[lookup_key], "quantity": 1}],
            "client_reference_id": "user-42",
            "customer_email": "buyer@example.com",
            "metadata": {"purchase_id": "17"},
            "payment_intent_data": {"metadata": {"purchase_id": "17", "user_id": "42"}},
            "success_url": SUCCESS_URL,
            "cancel_url": CANCEL_URL,
        }
        params.update(overrides)
        return stripe_client.v1.checkout.sessions.create(params=params)

    return create


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the fidelity tests checked against Stripe's description, when they ran."""
    if TOTALS.objects or TOTALS.requests:
        terminalreporter.write_sep("-", "Stripe fidelity")
        terminalreporter.write_line(TOTALS.summary())
