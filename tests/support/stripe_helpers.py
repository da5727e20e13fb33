"""Helpers for billing tests: a clean Stripe stand-in, checkout, signed webhooks, waits."""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from hashlib import sha256
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask.testing import FlaskClient

from creditapp import ledger
from creditapp.billing import packs
from creditapp.extensions import db
from creditapp.models import CreditPurchase, StripeEvent
from creditapp.platform import stripe_client
from tests.conftest import WEBHOOK_SECRET

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def stripe_env(app, emulator, live_server: str) -> Iterator[Any]:
    """The emulator with no sessions or events from earlier tests, and cold pack cache."""
    emulator.reset()
    packs.cache.clear()
    try:
        yield emulator
    finally:
        emulator.configure(webhook_url=f"{live_server}/webhooks/stripe", webhooks_enabled=True)
        emulator.reset()  # drops the deliveries still queued
        # One already on its way must land before the next test empties the tables: a webhook
        # writing while they are truncated deadlocks (a paid purchase sends several events).
        with suppress(TimeoutError):  # a delivery hanging on purpose is its own test's business
            emulator.wait_until_idle()
        packs.cache.clear()


@contextmanager
def emulator_config(emulator, live_server: str, **cfg: Any) -> Iterator[None]:
    """Change the emulator's webhook settings for a block; always restore the defaults."""
    emulator.configure(**cfg)
    try:
        yield
    finally:
        emulator.configure(webhook_url=f"{live_server}/webhooks/stripe", webhooks_enabled=True)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `predicate` (fresh database reads each time) until truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # a fresh snapshot: the live server commits in other threads
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def credits(user_id: int) -> int:
    """The user's balance, read fresh."""
    db.session.rollback()
    return ledger.balance(user_id).credits


def wait_for_credits(user_id: int, expected: int, timeout: float = 10.0) -> None:
    """Wait until the balance equals `expected`."""
    wait_for(lambda: credits(user_id) == expected, timeout, f"user {user_id} to have {expected} credits")


def purchase(session_id: str) -> CreditPurchase:
    """The purchase row for a Checkout Session, read fresh."""
    db.session.rollback()
    return db.session.execute(
        sa.select(CreditPurchase)
        .where(CreditPurchase.stripe_checkout_session_id == session_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def stored_event(event_id: str) -> StripeEvent | None:
    """The stored webhook event, read fresh."""
    db.session.rollback()
    return db.session.execute(
        sa.select(StripeEvent).where(StripeEvent.id == event_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def event_count() -> int:
    """How many webhook events are stored."""
    db.session.rollback()
    return db.session.execute(sa.select(sa.func.count()).select_from(StripeEvent)).scalar_one()


def price_id(credits: int) -> str:
    """The Price id of the pack that buys `credits`."""
    return next(p.price_id for p in packs.list_packs() if p.credits == credits)


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token a signed-in page carries."""
    page = client.get("/buy-credits")
    assert page.status_code == 200, page.get_data(as_text=True)
    return CSRF_META.search(page.get_data(as_text=True)).group(1)


def checkout(client: FlaskClient, pack: int = 500, **extra: str) -> str:
    """Buy the pack of `pack` credits through POST /billing/checkout; returns the session id."""
    response = client.post(
        "/billing/checkout", data={"price_id": price_id(pack), "csrf_token": csrf_token(client), **extra}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return urlsplit(response.headers["Location"]).path.rsplit("/", 1)[-1]


def session(session_id: str, *expand: str) -> dict[str, Any]:
    """A Checkout Session from Stripe, as a dict."""
    params = {"expand": list(expand)} if expand else None
    return stripe_client.client().v1.checkout.sessions.retrieve(session_id, params=params).to_dict()


def charge_id(session_id: str) -> str:
    """The charge that paid a Checkout Session."""
    return session(session_id, "payment_intent")["payment_intent"]["latest_charge"]


def events(event_type: str, object_id: str) -> list[dict[str, Any]]:
    """Events of a type about one object, oldest first (from Stripe's events list)."""
    found = stripe_client.client().v1.events.list(params={"type": event_type, "limit": 100})
    matching = [e.to_dict() for e in found.auto_paging_iter() if e.data.object.id == object_id]
    return matching[::-1]  # Stripe lists newest first


def event(event_type: str, object_id: str) -> dict[str, Any]:
    """The one event of a type about one object."""
    (found,) = events(event_type, object_id)
    return found


def stored_as_failed(event_type: str, object_id: str) -> dict[str, Any]:
    """Stripe's event about the object, stored as if an earlier release had failed on it
    (status failed, nothing applied); returns the event."""
    from creditapp.extensions import db
    from creditapp.models import StripeEvent

    found = event(event_type, object_id)
    db.session.add(
        StripeEvent(
            id=found["id"],
            type=found["type"],
            created=found["created"],
            status="failed",
            error="RuntimeError: a bug since fixed",
            payload=found,
        )
    )
    db.session.commit()
    return found


def charge_refunds(charge_id: str) -> list[dict[str, Any]]:
    """The charge's refunds as Stripe lists them now (``GET /v1/refunds?charge=``), newest first."""
    found = stripe_client.client().v1.refunds.list(params={"charge": charge_id, "limit": 100})
    return [refund.to_dict() for refund in found.auto_paging_iter()]


def charge_disputes(charge_id: str) -> list[dict[str, Any]]:
    """The charge's disputes (``GET /v1/disputes?charge=``), newest first."""
    found = stripe_client.client().v1.disputes.list(params={"charge": charge_id, "limit": 100})
    return [dispute.to_dict() for dispute in found.auto_paging_iter()]


def charge_events(charge_id: str) -> list[dict[str, Any]]:
    """Every event about the charge, its refunds or its disputes, oldest first."""
    found = stripe_client.client().v1.events.list(params={"limit": 100})
    matching = []
    for evt in found.auto_paging_iter():
        obj = evt.data.object
        if obj.id == charge_id or obj.get("charge") == charge_id:
            matching.append(evt.to_dict())
    return matching[::-1]


def sign(body: bytes, timestamp: int | None = None, secret: str = WEBHOOK_SECRET) -> str:
    """A `Stripe-Signature` header computed the way Stripe computes it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post_event(
    live_server: str, evt: dict[str, Any] | bytes, signature: str | None = "sign"
) -> requests.Response:
    """POST an event to the live app's webhook, signed unless told otherwise."""
    body = evt if isinstance(evt, bytes) else json.dumps(evt).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = sign(body)
    if signature is not None:
        headers["Stripe-Signature"] = signature
    with requests.Session() as http:
        http.trust_env = False  # never through a proxy from the environment
        return http.post(f"{live_server}/webhooks/stripe", data=body, headers=headers, timeout=15)


def purchase_count() -> int:
    """How many purchase rows exist."""
    db.session.rollback()
    return db.session.execute(sa.select(sa.func.count()).select_from(CreditPurchase)).scalar_one()


def only_purchase() -> CreditPurchase:
    """The one purchase row (for tests that create exactly one)."""
    db.session.rollback()
    return db.session.execute(
        sa.select(CreditPurchase).execution_options(populate_existing=True)
    ).scalar_one()


def paid_without_webhook(
    stripe_env, live_server: str, client: FlaskClient, outcome: str = "succeeded"
) -> str:
    """Check out a 500 pack as the client's user and pay it with webhooks off: paid, not yet credited."""
    session_id = checkout(client, 500)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        stripe_env.pay(session_id, outcome)
    return session_id
