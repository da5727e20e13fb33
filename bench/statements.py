"""SQL statements per request, counted with a SQLAlchemy before_cursor_execute hook.

Stable on any machine: badge 1, duplicate webhook <= 2, spend (user load, the hold with
its lot draw, and its job row; the feature then runs on a job worker) <= 5 now that
credits come in lots (DESIGN §9, §17).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import sqlalchemy as sa

from bench.common import Figure, at_most, bench_app, migrated_database
from bench.serving import session_cookie
from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase, StripeEvent, utcnow
from tests.support.db import count_statements

WEBHOOK_SECRET = "whsec_bench"


def signed(body: bytes) -> str:
    """A Stripe-Signature header for `body`, computed as Stripe does."""
    timestamp = int(time.time())
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def paid_session_event(purchase_id: int) -> bytes:
    """checkout.session.completed for a paid session of the given purchase."""
    session = {
        "id": "cs_bench_statements",
        "object": "checkout.session",
        "payment_status": "paid",
        "status": "complete",
        "amount_total": 500,
        "currency": "usd",
        # Expanded, as a retrieve with `expand` returns it: after crediting, the app reads the
        # payment back for its receipt and method, and this offline bench runs no Stripe.
        "payment_intent": {
            "id": "pi_bench_statements",
            "object": "payment_intent",
            "payment_method": {
                "id": "pm_bench",
                "object": "payment_method",
                "type": "card",
                "card": {"brand": "visa", "last4": "4242"},
            },
            "latest_charge": {"id": "ch_bench", "object": "charge", "receipt_url": None},
        },
        "metadata": {"purchase_id": str(purchase_id)},
    }
    event = {
        "id": "evt_bench_statements",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"object": session},
    }
    return json.dumps(event).encode()


def run() -> list[Figure]:
    """Count the statements of the three hot requests through the real app."""
    with migrated_database() as url:
        app = bench_app(url, WTF_CSRF_ENABLED=False, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
        with app.app_context():
            user_id, _ = ledger.register_user("bench-sql", "sql@example.com", "SQL", None, 500)
            purchase = CreditPurchase(
                user_id=user_id,
                stripe_checkout_session_id="cs_bench_statements",
                stripe_price_id="price_bench",
                credits_purchased=100,
                amount_paid=500,
                currency="usd",
                status="pending",
                created_at=utcnow(),
            )
            db.session.add(purchase)
            db.session.commit()
            purchase_id = purchase.id
            engine = db.engine
        client = app.test_client()
        name, value = session_cookie(app, user_id).split("=", 1)
        client.set_cookie(name, value)

        def counted(send) -> int:
            with count_statements(engine) as seen:
                response = send()
            assert response.status_code in (200, 202), response.get_data(as_text=True)[:300]
            return seen.count

        badge = counted(lambda: client.get("/credits/badge"))
        spend = counted(lambda: client.post("/api/features/image", json={"prompt": "a fox", "size": 256}))
        body = paid_session_event(purchase_id)

        def deliver():
            headers = {"Stripe-Signature": signed(body), "Content-Type": "application/json"}
            return client.post("/webhooks/stripe", data=body, headers=headers)

        first = counted(deliver)
        duplicate = counted(deliver)
        with app.app_context():
            stored = db.session.execute(sa.select(StripeEvent.status)).scalars().all()
            credited = ledger.balance(user_id).credits
            clean = not ledger.audit()
            db.engine.dispose()
    assert stored == ["processed"] and credited == 500 - 5 + 100 and clean, (stored, credited)
    return [
        at_most("statements: GET /credits/badge", badge, 1, "stmts"),
        at_most("statements: spend via POST /api/features/image", spend, 5, "stmts"),
        Figure("statements: webhook, first delivery", first, "stmts"),
        at_most("statements: webhook, duplicate delivery", duplicate, 2, "stmts"),
    ]
