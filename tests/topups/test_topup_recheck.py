"""A queued top-up is charged only if it may still run when its turn comes; an old one is
settled from Stripe's record, never sent to Stripe a second time."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.jobs import sweep
from creditapp.models import AutoRechargeSettings, CreditPurchase, User, utcnow
from creditapp.platform import stripe_client
from creditapp.topups import charging
from tests.support.jobs import queued_messages, run_queued
from tests.support.stripe_helpers import credits, csrf_token, emulator_config, price_id, wait_for
from tests.support.threads import race
from tests.topups.conftest import charge_answer_lost, enable, recharges


def intents_for(user_id: int) -> list[dict[str, Any]]:
    """Every PaymentIntent the stand-in holds for the person's Stripe Customer, as dicts."""
    db.session.rollback()
    customer = db.session.get(User, user_id, populate_existing=True).stripe_customer_id
    db.session.rollback()
    found = stripe_client.client().v1.payment_intents.list(params={"customer": customer, "limit": 100})
    return [intent.to_dict() for intent in found.auto_paging_iter()]


def topup_intents(user_id: int, purchase_id: int) -> list[dict[str, Any]]:
    """The PaymentIntents made for one top-up: by our metadata, or paying its invoice (with
    invoices on, the invoice's PaymentIntent carries none of our metadata)."""
    paid_invoice = set()
    invoice_id = db.session.get(CreditPurchase, purchase_id, populate_existing=True).stripe_invoice_id
    if invoice_id:
        invoice = stripe_client.client().v1.invoices.retrieve(invoice_id, params={"expand": ["payments"]})
        payments = invoice.to_dict()["payments"]["data"]
        paid_invoice = {p["payment"]["payment_intent"] for p in payments if p["status"] == "paid"}
    return [
        i
        for i in intents_for(user_id)
        if (i.get("metadata") or {}).get("purchase_id") == str(purchase_id) or i["id"] in paid_invoice
    ]


def switch_off(client) -> None:
    """Untick "automatic top-up" on its page and save."""
    response = client.post(
        "/account/auto-recharge",
        data={
            "threshold": "300",
            "price_id": price_id(100),
            "monthly_cap": "3",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def lower_cap_to_one(client) -> None:
    """Keep auto top-up on, but allow one top-up a month (one completed already)."""
    enable(client, threshold=300, cap=1)


def remove_card(client) -> None:
    """Remove the saved card through its button."""
    response = client.post(
        "/account/auto-recharge/card/remove", data={"csrf_token": csrf_token(client), "confirm": "yes"}
    )
    assert response.status_code == 303, response.get_data(as_text=True)


@pytest.mark.parametrize("change", [switch_off, lower_cap_to_one, remove_card], ids=lambda f: f.__name__)
def test_a_queued_top_up_no_longer_allowed_is_canceled_and_charges_nothing(
    app, topups, client, card_user, change
):
    user = card_user(start=150)  # 250
    enable(client, threshold=300, cap=2)
    ledger.hold(user, "image", 10)  # 240: a top-up starts and is charged
    run_queued(app)
    wait_for(lambda: recharges(user, "completed"), what="the first top-up")
    ledger.hold(user, "image", 50)  # 340 → 290: the second top-up is queued
    [queued] = recharges(user, "pending")
    before = credits(user)

    change(client)  # …before the worker gets to it
    run_queued(app)

    assert recharges(user)[-1].id == queued.id and recharges(user)[-1].status == "canceled"
    assert topup_intents(user, queued.id) == []  # Stripe never saw it
    assert credits(user) == before
    assert ledger.audit() == []
    history = client.get("/history?all=1").get_data(as_text=True)
    assert "Automatic top-up: 100 credits" in history and "Canceled, nothing charged" in history
    exported = client.get("/history.csv").get_data(as_text=True)
    rows = [line for line in exported.replace('"', "").splitlines() if ",canceled," in line]
    assert len(rows) == 1 and "Automatic top-up: 100 credits — canceled, nothing charged" in rows[0]
    assert ",canceled,0," in rows[0]  # nothing charged: no credits


def test_the_charge_waits_for_a_switch_off_in_progress_and_then_charges_nothing(
    app, topups, client, card_user
):
    user = card_user(start=150)
    enable(client, threshold=300)
    ledger.hold(user, "image", 10)
    [queued] = recharges(user, "pending")
    settings = AutoRechargeSettings.__table__
    outcome: list[str] = []

    def worker() -> None:
        with app.app_context():
            try:
                outcome.append(charging.charge(queued.id))
            finally:
                db.session.remove()

    with db.engine.connect() as switching_off:  # a person saving "off", not yet committed
        switching_off.execute(
            sa.update(settings).where(settings.c.user_id == user).values(enabled=False, updated_at=utcnow())
        )
        charger = threading.Thread(target=worker)
        charger.start()
        wait_for(lambda: lock_waiters() >= 1, what="the charge to wait on the settings row")
        switching_off.commit()
    charger.join(timeout=30)

    assert outcome == ["canceled"]
    assert recharges(user)[0].status == "canceled" and topup_intents(user, queued.id) == []
    assert credits(user) == 240


def lock_waiters() -> int:
    """Backends of this database waiting for a row lock right now."""
    return db.session.execute(
        sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    ).scalar_one()


def test_switching_off_and_charging_race_without_a_charge_after_the_switch_off(
    app, topups, client, card_user
):
    user = card_user(start=150)
    rounds = 6
    for _round in range(rounds):
        enable(client, threshold=10_000, cap=100)
        ledger.hold(user, "image", 1)  # always below the threshold: one top-up queued per round
        [queued] = recharges(user, "pending")
        app.extensions["jobs"].money_huey.flush()  # the race below is the worker
        before = credits(user)

        def side(i: int, purchase_id: int = queued.id) -> str:
            if i == 0:
                return charging.charge(purchase_id)
            switch_off(client)
            return "off"

        outcomes = race(app, side, 2)

        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        done = db.session.get(CreditPurchase, queued.id, populate_existing=True)
        made = topup_intents(user, queued.id)
        if done.status == "canceled":  # the switch-off committed first: nothing at Stripe
            assert made == [] and credits(user) == before
        else:  # the charge took its turn first: charged once, credited once
            assert done.status == "completed" and len(made) == 1 and credits(user) == before + 100
        # Whatever the order, nothing more can charge now that it is off.
        ledger.hold(user, "image", 1)
        assert recharges(user, "pending") == []
    assert ledger.audit() == []


def age(purchase_id: int, hours: float) -> None:
    """Make a top-up look `hours` old (created then, and attempted then if it was)."""
    then = utcnow() - timedelta(hours=hours)
    table = CreditPurchase.__table__
    db.session.execute(
        sa.update(table)
        .where(table.c.id == purchase_id)
        .values(
            created_at=then,
            charge_attempted_at=sa.case((table.c.charge_attempted_at.is_(None), None), else_=then),
        )
    )
    db.session.commit()


def test_a_top_up_older_than_a_day_that_stripe_charged_is_credited_from_stripe_not_charged_again(
    app, topups, client, card_user, live_server
):
    user = card_user(start=150, email="old-paid@example.com")
    enable(client, threshold=300)
    with emulator_config(topups, live_server, webhooks_enabled=False):
        ledger.hold(user, "image", 10)  # 240
        [pending] = recharges(user, "pending")
        app.extensions["jobs"].money_huey.flush()
        paid = charge_answer_lost(user, pending.id)
        age(pending.id, hours=25)

        report = sweep.sweep(app.config, lost_after=timedelta(seconds=60))
        run_queued(app)

    assert [i["id"] for i in topup_intents(user, pending.id)] == [paid["id"]]  # no second PaymentIntent
    [done] = recharges(user)
    assert done.status == "completed" and done.stripe_payment_intent_id == paid["id"]
    assert credits(user) == 340
    assert ledger.audit() == []
    assert report.topups_recovered == {pending.id: "succeeded"} and report.topups_requeued == 0


def test_a_top_up_older_than_a_day_that_stripe_never_saw_is_canceled(app, topups, client, card_user):
    user = card_user(start=150)
    enable(client, threshold=300)
    ledger.hold(user, "image", 10)
    [pending] = recharges(user, "pending")
    app.extensions["jobs"].money_huey.flush()  # the message was lost, and Stripe was down for a day
    age(pending.id, hours=25)

    report = sweep.sweep(app.config, lost_after=timedelta(seconds=60))
    run_queued(app)

    assert topup_intents(user, pending.id) == []
    assert recharges(user)[0].status == "canceled"
    assert credits(user) == 240 and queued_messages(app) == 0
    assert report.topups_recovered == {pending.id: "canceled"} and report.topups_requeued == 0


def test_a_late_message_for_an_old_top_up_never_creates_a_payment_intent(app, topups, client, card_user):
    user = card_user(start=150)
    enable(client, threshold=300)
    ledger.hold(user, "image", 10)
    [pending] = recharges(user, "pending")
    age(pending.id, hours=25)  # its message sat in a broker for a day

    run_queued(app)

    assert recharges(user)[0].status == "canceled" and topup_intents(user, pending.id) == []
    assert credits(user) == 240


def queued_top_up(app, client, card_user) -> tuple[int, CreditPurchase]:
    """A person at 150 credits with top-up on (threshold 300) who spent 10: a top-up of 200
    credits is pending, its queue message dropped so that each test charges it its own way."""
    user = card_user(start=150)
    enable(client, threshold=300)
    ledger.hold(user, "image", 10)
    [pending] = recharges(user, "pending")
    app.extensions["jobs"].money_huey.flush()
    return user, pending


def test_a_top_up_switched_off_after_an_attempt_stripe_charged_is_credited_not_canceled(
    app, topups, client, card_user, live_server
):
    user, pending = queued_top_up(app, client, card_user)
    with emulator_config(topups, live_server, webhooks_enabled=False):
        paid = charge_answer_lost(user, pending.id)  # Stripe took the money; we never heard
        switch_off(client)

        assert charging.charge(pending.id) == "succeeded"  # the sweep's retry

    [done] = recharges(user)
    assert done.status == "completed" and done.stripe_payment_intent_id == paid["id"]
    assert len(topup_intents(user, pending.id)) == 1
    assert credits(user) == 340


def test_a_charge_still_on_its_way_to_stripe_is_not_taken_for_none_and_is_credited_when_it_lands(
    app, topups, client, card_user, live_server
):
    user, pending = queued_top_up(app, client, card_user)
    with emulator_config(topups, live_server, webhooks_enabled=False):
        table = CreditPurchase.__table__
        db.session.execute(
            sa.update(table).where(table.c.id == pending.id).values(charge_attempted_at=utcnow())
        )
        db.session.commit()  # a worker's request is on its way to Stripe…
        switch_off(client)  # …when the person switches top-up off, and the sweep asks again

        assert charging.recover(pending.id) == "retry"  # not found yet is not "none"
        assert recharges(user)[-1].status == "pending"

        paid = charge_answer_lost(user, pending.id)  # the request lands: Stripe took the money
        assert charging.recover(pending.id) == "succeeded"

    [done] = recharges(user)
    assert done.status == "completed" and done.stripe_payment_intent_id == paid["id"]
    assert credits(user) == 340 and ledger.audit() == []


def test_a_top_up_canceled_while_its_charge_was_in_flight_is_credited_when_stripe_says_it_succeeded(
    app, topups, client, card_user, live_server
):
    user, pending = queued_top_up(app, client, card_user)
    switch_off(client)
    assert charging.charge(pending.id) == "canceled"  # what a second worker decided…

    # …while the first worker's request was still on its way; Stripe charges it and says so.
    with emulator_config(topups, live_server, webhooks_enabled=True):
        paid = charge_answer_lost(user, pending.id)
        wait_for(
            lambda: recharges(user)[-1].status == "completed", what="the payment_intent.succeeded webhook"
        )

    [done] = recharges(user)
    assert done.stripe_payment_intent_id == paid["id"]
    assert credits(user) == 340  # the money Stripe took is credited once
    assert ledger.audit() == []
