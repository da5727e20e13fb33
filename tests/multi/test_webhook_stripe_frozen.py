"""A webhook is answered within 10 s whatever Stripe does, and converges once Stripe answers.

The stand-ins run in a process of their own, frozen with SIGSTOP mid-refund (a Stripe that
accepts connections and never answers) while signed refund events reach a real gunicorn.
Each event gets a retryable 503 quickly instead of holding a web worker for the SDK's
20 s × 3 attempts; after SIGCONT, Stripe's redelivery claws the refund back once.
"""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase, StripeEvent
from tests.multi import traffic
from tests.multi.single import single_instance
from tests.support.stripe_helpers import sign

REFUND_EVENTS = ("refund.created", "charge.refunded")
ANSWER_WITHIN = 10.0  # Stripe's own patience; only a wait on the 20 s SDK timeout fails it
CONVERGE_WITHIN = 90.0


def post_signed(url: str, event: dict) -> tuple[int | None, float]:
    """POST one event signed as Stripe signs it; the status (None: no answer) and the seconds taken."""
    body = json.dumps(event).encode()
    started = time.monotonic()
    try:
        with requests.Session() as http:
            http.trust_env = False
            response = http.post(
                f"{url}/webhooks/stripe",
                data=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": sign(body)},
                timeout=3 * ANSWER_WITHIN,
            )
        status: int | None = response.status_code
    except requests.RequestException:
        status = None
    return status, time.monotonic() - started


def wait_until(predicate, timeout: float, what: str):
    """Poll `predicate` until truthy (each poll reads afresh); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def read(app, statement):
    with app.app_context():
        try:
            return db.session.execute(statement).all()
        finally:
            db.session.remove()


def test_refund_events_get_a_quick_503_while_stripe_is_frozen_and_converge_after():
    with single_instance(workers=2) as deployment:
        url, emulator, app = deployment.instances[0].url, deployment.emulator, deployment.app
        shopper = traffic.sign_in(url, emulator, "frozen@example.com")
        started = traffic.checkout(url, shopper, traffic.price_ids(url, shopper)[0])
        session_id = started.body["session_id"]
        emulator.pay(session_id)
        credited = sa.select(CreditPurchase.id).where(CreditPurchase.status == "completed")
        wait_until(lambda: read(app, credited), 30, "the purchase credited")
        ((user_id, credits),) = read(app, sa.select(CreditPurchase.user_id, CreditPurchase.credits_purchased))
        with app.app_context():
            paid_balance = ledger.balance(user_id).credits
            db.session.remove()

        emulator.configure(webhooks_enabled=False)  # the events are delivered below, by hand
        intent = deployment.stripe.v1.checkout.sessions.retrieve(session_id).payment_intent
        deployment.stripe.v1.refunds.create(params={"payment_intent": intent})
        listed = deployment.stripe.v1.events.list(params={"limit": 100})
        events = [e.to_dict() for e in listed.auto_paging_iter() if e.type in REFUND_EVENTS]
        assert sorted(e["type"] for e in events) == sorted(REFUND_EVENTS)

        os.kill(emulator.pid, signal.SIGSTOP)  # Stripe stops answering mid-refund
        try:
            with ThreadPoolExecutor(max_workers=len(events)) as pool:
                answers = list(pool.map(lambda event: post_signed(url, event), events))
        finally:
            os.kill(emulator.pid, signal.SIGCONT)

        print("answers while Stripe was frozen (status, seconds):", answers)
        assert [status for status, _ in answers] == [503] * len(events), answers
        assert all(seconds < ANSWER_WITHIN for _, seconds in answers), answers
        refund_events = sa.select(StripeEvent.status).where(StripeEvent.id.in_([e["id"] for e in events]))
        assert read(app, refund_events) == []  # nothing recorded: the redelivery runs them afresh

        # Stripe answers again and delivers the events again, as it does after a 5xx.
        emulator.configure(webhooks_enabled=True)
        for event in events:
            emulator.resend(event["id"])

        def settled():
            return read(app, refund_events) == [("processed",)] * len(events)

        wait_until(settled, CONVERGE_WITHIN, "the redelivered events processed")
        with app.app_context():
            assert ledger.balance(user_id).credits == paid_balance - credits  # clawed back once
            assert ledger.audit() == []
            db.session.remove()
