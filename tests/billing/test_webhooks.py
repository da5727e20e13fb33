"""The Stripe webhook: purchases credited once, bad deliveries refused, outages retried."""

from __future__ import annotations

import json
import threading
import time

import sqlalchemy as sa
from werkzeug.serving import make_server

from creditapp import create_app, ledger
from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditPurchase
from tests.conftest import free_port
from tests.support import stripe_helpers
from tests.support.db import count_statements
from tests.support.stripe_helpers import (
    checkout,
    credits,
    emulator_config,
    event,
    event_count,
    paid_without_webhook,
    post_event,
    purchase,
    sign,
    stored_event,
    wait_for,
    wait_for_credits,
)
from tests.support.threads import race

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def test_paying_for_a_pack_credits_it_through_the_webhook(stripe_env, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)

    stripe_env.pay(session_id)

    wait_for_credits(user, 1000)
    bought = purchase(session_id)
    assert bought.status == "completed"
    assert (bought.credits_purchased, bought.amount_paid, bought.currency) == (500, 2000, "usd")
    assert bought.stripe_payment_intent_id.startswith("pi_")
    completed = event("checkout.session.completed", session_id)
    wait_for(lambda: stored_event(completed["id"]), what="the event row")
    assert stored_event(completed["id"]).status == "processed"
    assert ledger.audit() == []


def test_same_event_delivered_twice_at_once_credits_once(
    stripe_env, live_server, app, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    body = json.dumps(event("checkout.session.completed", session_id)).encode()

    answers = race(app, lambda _i: post_event(live_server, body).status_code, 2)

    assert answers == [200, 200]
    assert credits(user) == 1000
    assert event_count() == 1
    assert ledger.audit() == []


def test_the_same_completed_event_delivered_twice_credits_the_pack_once(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    body = json.dumps(event("checkout.session.completed", session_id)).encode()

    first = post_event(live_server, body)
    second = post_event(live_server, body)

    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert credits(user) == 1000
    db.session.rollback()
    rows = db.session.execute(
        sa.select(CreditPurchase.status, CreditPurchase.credits_purchased).where(
            CreditPurchase.user_id == user
        )
    ).all()
    assert [tuple(r) for r in rows] == [("completed", 500)]  # one ledger row for the pack
    adjustments = db.session.execute(
        sa.select(CreditAdjustment.reason, CreditAdjustment.amount).where(CreditAdjustment.user_id == user)
    ).all()
    assert [tuple(a) for a in adjustments] == [("signup_bonus", 500)]
    assert event_count() == 1
    assert ledger.audit() == []


def test_duplicate_delivery_costs_at_most_two_statements(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    body = json.dumps(event("checkout.session.completed", session_id)).encode()
    assert post_event(live_server, body).status_code == 200

    with count_statements(db.engine) as log:
        again = post_event(live_server, body)

    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert log.count <= 2, log.statements
    assert credits(user) == 1000


def test_delayed_payment_credits_only_when_it_settles(stripe_env, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)

    stripe_env.pay(session_id, "async_pending")
    completed = event("checkout.session.completed", session_id)
    wait_for(lambda: stored_event(completed["id"]), what="the unpaid completion to be stored")
    assert stored_event(completed["id"]).status == "processed"
    assert credits(user) == 500
    assert purchase(session_id).status == "pending"

    stripe_env.settle(session_id, "succeeded")

    wait_for_credits(user, 1000)
    assert purchase(session_id).status == "completed"


def test_failed_delayed_payment_marks_the_purchase_failed(stripe_env, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    stripe_env.pay(session_id, "async_pending")

    stripe_env.settle(session_id, "failed")

    wait_for(lambda: purchase(session_id).status == "failed", what="the purchase to fail")
    assert credits(user) == 500


def test_expired_session_marks_the_purchase_expired(stripe_env, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 100)

    stripe_env.expire(session_id)

    wait_for(lambda: purchase(session_id).status == "expired", what="the purchase to expire")
    assert credits(user) == 500


def test_fully_discounted_checkout_is_credited_without_a_payment(stripe_env, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 1000)

    stripe_env.pay(session_id, discount_percent=100)

    wait_for_credits(user, 1500)
    bought = purchase(session_id)
    assert (bought.status, bought.amount_paid, bought.stripe_payment_intent_id) == ("completed", 0, None)


def _completed_body(stripe_env, live_server, client) -> bytes:
    session_id = paid_without_webhook(stripe_env, live_server, client)
    return json.dumps(event("checkout.session.completed", session_id)).encode()


def test_forged_stale_unsigned_or_malformed_deliveries_are_refused(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    body = _completed_body(stripe_env, live_server, client)
    bad_json = b'{"id": "evt_1", "type": '
    tampered = body.replace(b'"amount_total": 2000', b'"amount_total": 1')
    assert tampered != body

    answers = {
        "forged": post_event(live_server, body, sign(body, secret="whsec_someone_else")),
        "tampered": post_event(live_server, tampered, sign(body)),
        "stale": post_event(live_server, body, sign(body, timestamp=int(time.time()) - 301)),
        "missing": post_event(live_server, body, signature=None),
        "garbled header": post_event(live_server, body, signature="t=abc,v1=zzz"),
        "bad json": post_event(live_server, bad_json, sign(bad_json)),
        "not an event": post_event(live_server, b"[1, 2]", sign(b"[1, 2]")),
        "not utf-8": post_event(live_server, body.decode().encode("utf-16"), sign(body)),
        "deep nesting": post_event(live_server, b"[" * 100_000, sign(b"[" * 100_000)),
        "non-ascii signature": post_event(live_server, body, f"t={int(time.time())},v1=\u00e9"),
    }

    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 400)
    assert event_count() == 0
    assert credits(user) == 500


def test_event_types_without_a_handler_are_stored_as_ignored(stripe_env, live_server):
    evt = {
        "id": "evt_unhandled_1",
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }

    answer = post_event(live_server, evt)

    assert answer.status_code == 200
    assert stored_event("evt_unhandled_1").status == "ignored"


def _intent_event(event_id: str, event_type: str, intent_id: str, amount: int = 2000) -> dict:
    status = "succeeded" if event_type == "payment_intent.succeeded" else "requires_payment_method"
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount if status == "succeeded" else 0,
                "currency": "usd",
                "status": status,
                "metadata": {},
            }
        },
    }


def _purchase_paid_by_intent(user_id: int, intent_id: str) -> int:
    """A pending purchase with its PaymentIntent and no Checkout Session (as an automatic top-up)."""
    row = CreditPurchase(
        user_id=user_id,
        stripe_payment_intent_id=intent_id,
        stripe_price_id="price_500",
        credits_purchased=500,
        amount_paid=2000,
        currency="usd",
        status="pending",
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def test_payment_intent_events_settle_only_a_purchase_paid_without_checkout(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    paid = _purchase_paid_by_intent(user, "pi_direct_paid")
    declined = _purchase_paid_by_intent(user, "pi_direct_declined")

    for evt in (
        _intent_event("evt_pi_ok", "payment_intent.succeeded", "pi_direct_paid"),
        _intent_event("evt_pi_ok_again", "payment_intent.succeeded", "pi_direct_paid"),
        _intent_event("evt_pi_declined", "payment_intent.payment_failed", "pi_direct_declined"),
    ):
        answer = post_event(live_server, evt)
        assert (answer.status_code, answer.json()["status"]) == (200, "processed")

    db.session.expire_all()
    assert (db.session.get(CreditPurchase, paid).status, credits(user)) == ("completed", 1000)
    assert db.session.get(CreditPurchase, declined).status == "failed"


def test_payment_intent_events_leave_a_checkout_purchase_to_its_session(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    intent = stripe_helpers.session(session_id)["payment_intent"]

    for evt in (
        _intent_event("evt_pi_checkout_failed", "payment_intent.payment_failed", intent),
        _intent_event("evt_pi_checkout_paid", "payment_intent.succeeded", intent, amount=1),
    ):
        answer = post_event(live_server, evt)
        assert (answer.status_code, answer.json()["status"]) == (200, "processed")
    assert (purchase(session_id).status, credits(user)) == ("pending", 500)

    assert post_event(live_server, event("checkout.session.completed", session_id)).status_code == 200
    assert (purchase(session_id).status, purchase(session_id).amount_paid, credits(user)) == (
        "completed",
        2000,
        1000,
    )


def test_event_for_an_unknown_purchase_is_stored_as_failed_and_acknowledged(stripe_env, live_server):
    evt = {
        "id": "evt_unknown_purchase",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "cs_not_ours",
                "object": "checkout.session",
                "payment_status": "paid",
                "metadata": {"purchase_id": "999", "user_id": "999"},
            }
        },
    }

    answer = post_event(live_server, evt)

    assert answer.status_code == 200
    stored = stored_event("evt_unknown_purchase")
    assert stored.status == "failed"
    assert "no purchase 999" in stored.error


def test_webhook_during_a_database_outage_is_retried_and_credited_once(
    stripe_env, app, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    dead_port = free_port()  # nothing listens here: the database is "down"
    same = ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "APP_BASE_URL")
    broken = create_app(
        {
            "CONFIG_NAME": "testing",
            "RATELIMIT_ENABLED": False,
            **{key: app.config[key] for key in same},
            "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{dead_port}/creditapp",
        }
    )
    server = make_server("127.0.0.1", free_port(), broken, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with emulator_config(
            stripe_env, live_server, webhook_url=f"http://127.0.0.1:{server.port}/webhooks/stripe"
        ):
            stripe_env.pay(session_id)
            completed = event("checkout.session.completed", session_id)
            first = stripe_env.wait_for_deliveries(lambda d: d["event_id"] == completed["id"])[0]
        assert first["status_code"] == 503
        assert event_count() == 0
        assert credits(user) == 500

        stripe_env.resend(completed["id"])

        wait_for_credits(user, 1000)
        stripe_env.wait_for_deliveries(lambda d: d["event_id"] == completed["id"] and d["status_code"] == 200)
        assert credits(user) == 1000
        assert stored_event(completed["id"]).status == "processed"
    finally:
        server.shutdown()
        with broken.app_context():
            db.engine.dispose()
