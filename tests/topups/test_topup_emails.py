"""E-mail around automatic top-ups: one receipt per charge, and no low-balance e-mail while a
top-up may still refill the balance (only if it fails). Real SMTP into the stand-ins' sink."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import Notification
from creditapp.topups import charging
from tests.support.jobs import run_queued
from tests.support.stripe_helpers import credits, emulator_config, event, post_event, wait_for
from tests.support.threads import race
from tests.topups.conftest import charge_answer_lost, enable, recharges
from tests.topups.test_email import set_alert

RECEIPT = "Receipt: automatic top-up of 100 credits"


def subjects(topups, to: str) -> list[str]:
    """The subjects the sink received for `to`, oldest first."""
    return [mail["subject"] for mail in reversed(topups.mail(to))]


def low_balance_statuses() -> list[str]:
    """The outbox's low-balance e-mails' statuses, oldest first."""
    db.session.rollback()
    query = sa.select(Notification.status).where(Notification.kind == "low_balance").order_by(Notification.id)
    return list(db.session.scalars(query))


def settle_everything(app, topups) -> None:
    """Let the worker, the webhooks and the e-mails they start all finish."""
    run_queued(app)
    topups.wait_until_idle()
    run_queued(app)


def test_an_automatic_top_up_e_mails_one_receipt_with_what_was_charged(app, topups, client, card_user):
    user = card_user(start=1_150, email="receipt@example.com")  # 1,250
    enable(client, threshold=1_300)

    ledger.hold(user, "image", 10)  # 1,240: the top-up charges the saved card
    settle_everything(app, topups)

    [done] = recharges(user, "completed")
    [mail] = topups.mail("receipt@example.com")
    assert mail["subject"] == RECEIPT
    text = mail["text"]
    assert "100 credits for $5.00" in text
    assert "Visa ending 4242" in text
    assert "Your balance is now 1,340 credits." in text
    assert f"/history/purchases/{done.id}/receipt" in text
    assert "/history" in mail["html"] and "1,340 credits" in mail["html"]
    assert credits(user) == 1_340


def test_the_worker_and_the_webhook_racing_to_complete_a_top_up_send_one_receipt(
    app, topups, client, card_user, live_server
):
    user = card_user(start=150, email="race-receipt@example.com")
    enable(client, threshold=300)
    with emulator_config(topups, live_server, webhooks_enabled=False):
        ledger.hold(user, "image", 10)
        [pending] = recharges(user, "pending")
        app.extensions["jobs"].money_huey.flush()
        intent = charge_answer_lost(user, pending.id)
    succeeded = event("payment_intent.succeeded", intent["id"])

    def complete(i: int) -> object:
        if i % 2:
            return post_event(live_server, succeeded).status_code  # Stripe's webhook
        return charging.settle(pending.id, intent)  # the worker's own answer

    outcomes = race(app, complete, 8)
    run_queued(app)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert credits(user) == 340
    db.session.rollback()
    receipts = db.session.scalars(sa.select(Notification).where(Notification.kind == "topup_receipt")).all()
    assert [(r.status, r.dedupe_key) for r in receipts] == [("sent", f"topup-receipt:{pending.id}")]
    assert subjects(topups, "race-receipt@example.com") == [RECEIPT]


@pytest.mark.parametrize("order", ["same_decrease", "already_pending"])
def test_no_low_balance_e_mail_when_the_top_up_in_flight_refills_the_balance(
    app, topups, client, card_user, order
):
    user = card_user(start=150, email=f"refilled-{order}@example.com")  # 250
    set_alert(client, 200)
    enable(client, threshold=300)

    if order == "already_pending":
        ledger.hold(user, "image", 10)  # 240: the top-up starts; still above the alert level
        ledger.hold(user, "image", 50)  # 190: crosses the alert level while it is in flight
    else:
        ledger.hold(user, "image", 60)  # 190: one decrease crosses both
    settle_everything(app, topups)

    assert credits(user) == 290
    assert subjects(topups, f"refilled-{order}@example.com") == [RECEIPT]
    assert low_balance_statuses() == ["dropped"]


@pytest.mark.parametrize("order", ["same_decrease", "already_pending"])
def test_the_low_balance_e_mail_goes_out_once_when_the_top_up_in_flight_fails(
    app, topups, client, card_user, order
):
    user = card_user(card="0341", start=150, email=f"declined-{order}@example.com")  # declines off-session
    set_alert(client, 200)
    enable(client, threshold=300)

    if order == "already_pending":
        ledger.hold(user, "image", 10)
        ledger.hold(user, "image", 50)
    else:
        ledger.hold(user, "image", 60)
    waiting = low_balance_statuses()  # while the top-up is in flight: written, not to be sent
    settle_everything(app, topups)

    assert waiting == ["deferred"]
    assert credits(user) == 190
    got = subjects(topups, f"declined-{order}@example.com")
    assert sorted(got) == ["Automatic top-up failed", "Your balance is 190 credits"]
    wait_for(lambda: recharges(user, "failed"), what="the failed top-up")


def test_every_e_mail_writes_credits_with_the_pages_thousands_separators(
    app, topups, client, make_user, sign_in_as
):
    user = make_user(email="big@example.com", credits=13_000)
    sign_in_as(client, user)
    set_alert(client, 12_500)

    ledger.hold(user, "image", 655)  # 12,345: below 12,500
    run_queued(app)

    [mail] = topups.mail("big@example.com")
    assert mail["subject"] == "Your balance is 12,345 credits"
    assert "fell to 12,345 credits, below the 12,500 credits" in mail["text"]
    assert "12,345 credits" in mail["html"] and "12345" not in mail["text"]
    page = client.get("/").get_data(as_text=True)
    assert "12,345" in page  # as the home page writes it
