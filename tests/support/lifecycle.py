"""Helpers for Stripe's money lifecycle: refunds that fail, disputes, redelivering events."""

from __future__ import annotations

from typing import Any

import psycopg
import requests
import sqlalchemy as sa
import stripe
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from creditapp.extensions import db
from creditapp.models import CreditAdjustment, StripeEvent
from creditapp.platform import stripe_client
from tests.conftest import STRIPE_KEY
from tests.support.stripe_helpers import (
    charge_id,
    checkout,
    post_event,
    purchase,
    wait_for_credits,
)


def bought(stripe_env, client: FlaskClient, make_user, sign_in_as, start: int = 500) -> tuple[int, str]:
    """A user who bought the 500-credit pack ($20.00), credited by the webhook."""
    user = make_user(credits=start)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    stripe_env.pay(session_id)
    wait_for_credits(user, start + 500)
    return user, session_id


def refund(session_id: str, amount: int | None = None) -> str:
    """Refund the purchase's payment through Stripe's API (all of it by default); the Refund id."""
    params: dict[str, Any] = {"charge": charge_id(session_id)}
    if amount is not None:
        params["amount"] = amount
    return stripe_client.client().v1.refunds.create(params=params).id


def fail_refund(emulator, refund_id: str) -> dict[str, Any]:
    """Make a refund fail, as a bank can days later (Stripe gives the money back)."""
    return emulator.fail_refund(refund_id)


def open_dispute(
    emulator, session_id: str, amount: int | None = None, inquiry: bool = False
) -> dict[str, Any]:
    """Open a chargeback (or an inquiry) on the purchase's charge; returns the Dispute."""
    return emulator.dispute(charge_id(session_id), amount, inquiry=inquiry)


def escalate(emulator, dispute_id: str) -> dict[str, Any]:
    """Turn an inquiry into a chargeback (Stripe withdraws the funds)."""
    return emulator.escalate_dispute(dispute_id)


def close_dispute(emulator, dispute_id: str, outcome: str) -> dict[str, Any]:
    """Close a dispute as `won`, `lost` or (an inquiry) `warning_closed`."""
    return emulator.close_dispute(dispute_id, outcome)


def charge_events(charge: str) -> list[dict[str, Any]]:
    """Every event Stripe sent about a charge, its refunds and its disputes, oldest first."""
    listed = stripe_client.client().v1.events.list(params={"limit": 100})
    about = []
    for evt in listed.auto_paging_iter():
        obj = evt.to_dict()["data"]["object"]
        related = obj.get("charge") if obj.get("object") in ("refund", "dispute") else obj.get("id")
        if related == charge:
            about.append(evt.to_dict())
    return about[::-1]


def process_again(live_server: str, events: list[dict[str, Any]]) -> None:
    """Deliver events as if for the first time: forget the stored rows, then post each one.

    A stored event id makes a redelivery a no-op, so this is how a test makes the handlers
    run again on old events (as after a crash between handling and storing them).
    """
    for evt in events:
        db.session.execute(sa.delete(StripeEvent).where(StripeEvent.id == evt["id"]))
        db.session.commit()
        answer = post_event(live_server, evt)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "processed", answer.json()


def clawback_moves(session_id: str) -> list[tuple[str, int]]:
    """The purchase's clawback adjustments, oldest first: (reason, signed amount)."""
    db.session.rollback()
    rows = db.session.execute(
        sa.select(CreditAdjustment.reason, CreditAdjustment.amount)
        .where(CreditAdjustment.purchase_id == purchase(session_id).id)
        .order_by(CreditAdjustment.id)
    ).all()
    return [(row.reason, row.amount) for row in rows]


def clawback_adds_up(session_id: str) -> bool:
    """The purchase's clawback equals the sum of its adjustment rows (the ledger explains it)."""
    return purchase(session_id).credits_clawed_back == -sum(
        amount for _, amount in clawback_moves(session_id)
    )


def settled(emulator) -> None:
    """Wait until the stand-in has delivered every event it has sent so far."""
    emulator.wait_until_idle()


class TransactionWatch(requests.Session):
    """An HTTP session for the Stripe SDK that notes, at every call, which transactions are open.

    `open_during_calls` gets one entry per call: how many connections to the app's database
    sat idle inside a transaction while the call went out (PostgreSQL's own view of it).
    """

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.trust_env = False
        self.conninfo = (
            make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self.open_during_calls: list[tuple[str, int]] = []

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001 - requests' own signature
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%'"
            ).fetchone()
        self.open_during_calls.append((f"{method} {url}", count))
        return super().request(method, url, *args, **kwargs)


def watched_client(emulator, watch: TransactionWatch) -> stripe.StripeClient:
    """A StripeClient like the app's, sending its requests through `watch`."""
    return stripe.StripeClient(
        STRIPE_KEY,
        base_addresses={"api": emulator.base_url},
        http_client=stripe.RequestsClient(session=watch, timeout=20),
    )
