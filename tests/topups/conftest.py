"""Automatic top-ups and e-mail against the real parts: PostgreSQL, the Stripe stand-in
through the real SDK, its webhooks into the live app, and real SMTP into the stand-ins' sink."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from creditapp.extensions import db
from creditapp.models import AutoRechargeSettings, CreditPurchase, User, personal_wallet, utcnow
from creditapp.platform import stripe_client
from tests.support import stripe_helpers
from tests.support.stripe_helpers import checkout, csrf_token, price_id, wait_for, wait_for_credits

stripe_env = stripe_helpers.stripe_env


class TopUpStandIns:
    """The stand-ins, whose `mail` leaves out the receipt of the Checkout purchase that saved the
    card: these tests read the top-up's e-mails (Checkout receipts: tests/billing/test_invoices.py)."""

    def __init__(self, emulator: Any) -> None:
        self._emulator = emulator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._emulator, name)

    def mail(self, to: str | None = None) -> list[dict[str, Any]]:
        """The sink's messages, less the Checkout purchase receipts."""
        return [m for m in self._emulator.mail(to) if not CHECKOUT_RECEIPT.match(m["subject"])]


CHECKOUT_RECEIPT = re.compile(r"Receipt: [0-9,]+ credits")


@pytest.fixture
def topups(app: Flask, stripe_env) -> Iterator[Any]:
    """The stand-ins, with the app's e-mail going to their SMTP sink and no retry delay."""
    saved = {name: app.config[name] for name in ("SMTP_URL", "AUTO_RECHARGE_RETRY_MINUTES")}
    app.config.update(SMTP_URL=stripe_env.smtp_url, AUTO_RECHARGE_RETRY_MINUTES=0)
    try:
        yield TopUpStandIns(stripe_env)
    finally:
        app.config.update(saved)


def save_card(topups, client: FlaskClient, user_id: int, start: int, card: str = "4242") -> None:
    """Buy the 100-credit pack ticking "Save this card", paying with one of the test cards."""
    session_id = checkout(client, 100, save_card="1")
    topups.pay(session_id, card=card)
    wait_for_credits(user_id, start + 100)
    wait_for(lambda: settings(user_id) and settings(user_id).card_last4, what="the card saved")


def enable(client: FlaskClient, threshold: int, cap: int = 3, pack: int = 100) -> None:
    """Switch automatic top-up on through its page."""
    response = client.post(
        "/account/auto-recharge",
        data={
            "enabled": "1",
            "threshold": str(threshold),
            "price_id": price_id(pack),
            "monthly_cap": str(cap),
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def settings(user_id: int) -> AutoRechargeSettings | None:
    """The person's auto top-up row (their own wallet's), read afresh."""
    db.session.rollback()
    return db.session.execute(
        sa.select(AutoRechargeSettings)
        .where(AutoRechargeSettings.wallet_id == personal_wallet(user_id))
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def recharges(user_id: int, status: str | None = None) -> list[CreditPurchase]:
    """The person's automatic top-ups, oldest first."""
    db.session.rollback()
    query = sa.select(CreditPurchase).where(
        CreditPurchase.user_id == user_id, CreditPurchase.source == "auto_recharge"
    )
    if status:
        query = query.where(CreditPurchase.status == status)
    return list(
        db.session.scalars(query.order_by(CreditPurchase.id).execution_options(populate_existing=True))
    )


@pytest.fixture
def card_user(topups, client: FlaskClient, make_user, sign_in_as):
    """A signed-in person with a saved card (which test card: the argument) and `start` + 100 credits."""

    def make(card: str = "4242", start: int = 300, email: str | None = None) -> int:
        user = make_user(email=email, credits=start)
        sign_in_as(client, user)
        save_card(topups, client, user, start, card)
        return user

    return make


def charge_answer_lost(user_id: int, purchase_id: int) -> dict[str, Any]:
    """The worker's request reached Stripe and charged the card, but its answer (and the
    webhook) never arrived: the PaymentIntent exists only at Stripe."""
    purchase = db.session.get(CreditPurchase, purchase_id, populate_existing=True)
    method = settings(user_id).payment_method_id
    customer = db.session.get(User, user_id).stripe_customer_id
    table = CreditPurchase.__table__
    db.session.execute(sa.update(table).where(table.c.id == purchase_id).values(charge_attempted_at=utcnow()))
    db.session.commit()
    intent = stripe_client.client().v1.payment_intents.create(
        params={
            "amount": purchase.amount_paid,
            "currency": purchase.currency,
            "customer": customer,
            "payment_method": method,
            "off_session": True,
            "confirm": True,
            "metadata": {"purchase_id": str(purchase_id), "user_id": str(user_id), "source": "auto_recharge"},
        }
    )
    assert intent.status == "succeeded"
    return intent.to_dict()
