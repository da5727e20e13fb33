"""The notice before a lot expires: one e-mail per lot with credits left inside
LOT_EXPIRY_NOTICE_DAYS, however often the notices or the sweep run. Real SMTP into the
stand-ins' sink."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from creditapp import ledger
from creditapp.extensions import db
from creditapp.jobs import sweep
from creditapp.models import CreditLot, Notification, utcnow
from creditapp.notifications import email as notifications
from tests.support import stripe_helpers
from tests.support.jobs import run_queued
from tests.support.orgs import make_org

stripe_env = stripe_helpers.stripe_env


@pytest.fixture
def mail_sink(app: Flask, stripe_env) -> Iterator[Any]:
    """The stand-ins, with the app's e-mail going to their SMTP sink."""
    saved = app.config["SMTP_URL"]
    app.config["SMTP_URL"] = stripe_env.smtp_url
    try:
        yield stripe_env
    finally:
        app.config["SMTP_URL"] = saved


def outbox() -> list[Notification]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Notification).order_by(Notification.id)))


def expires_on(lot_id: int) -> str:
    """The lot's expiry day as the e-mail writes it: 14 December 2026 (UTC)."""
    when = db.session.get(CreditLot, lot_id).expires_at
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return f"{when.day} {when:%B %Y}"


def test_a_lot_expiring_in_three_days_is_e_mailed_once_however_often_the_notices_run(
    app, mail_sink, make_user
):
    user_id = make_user(email="soon@example.com", credits=500)  # the bonus: 90 days, outside the window
    lot_id = ledger.grant(user_id, 200, note="webinar", expires_at=utcnow() + timedelta(days=3)).lot_id
    ledger.capture(ledger.hold(user_id, "image", 80).spend_id)  # from the lot expiring soonest: 120 left

    ledger.write_expiry_notices()
    ledger.write_expiry_notices()
    run_queued(app)
    sweep.sweep(app.config, lost_after=timedelta(seconds=0))
    sweep.sweep(app.config, lost_after=timedelta(seconds=0))
    run_queued(app)

    [mail] = mail_sink.mail("soon@example.com")
    day = expires_on(lot_id)
    assert mail["subject"] == f"120 credits expire on {day}"
    assert f"120 of the 200 credits from a grant expire on {day}" in mail["text"]
    assert f"{app.config['APP_BASE_URL']}/account/credits" in mail["text"]
    assert f'<a href="{app.config["APP_BASE_URL"]}/account/credits">' in mail["html"]
    assert f"expire on {day}" in mail["html"]
    [notice] = outbox()
    assert (notice.kind, notice.status, notice.payload["lot_id"]) == ("lot_expiring", "sent", lot_id)
    assert notice.subject == mail["subject"]  # the row keeps what was sent


def test_an_organizations_expiring_lot_is_e_mailed_to_each_owner_and_admin_once_and_no_member(
    app, mail_sink, make_user
):
    org = make_org(make_user, name="Acme", tag="acme")
    lot_id = ledger.grant(
        org.owner, 300, note="launch", expires_at=utcnow() + timedelta(days=2), wallet_id=org.wallet_id
    ).lot_id

    ledger.write_expiry_notices()
    ledger.write_expiry_notices()
    run_queued(app)

    day = expires_on(lot_id)
    for manager in ("owner@acme.example", "admin@acme.example"):
        [mail] = [m for m in mail_sink.mail(manager) if "expire" in m["subject"]]  # not the invitation
        assert mail["subject"] == f"Acme: 300 credits expire on {day}"
        assert f"300 credits from a grant in Acme's wallet expire on {day}" in mail["text"]
        assert f"{app.config['APP_BASE_URL']}/account/credits?org={org.id}" in mail["text"]
        assert "as an owner or admin of Acme" in mail["text"]
    for person in ("member@acme.example", "removed@acme.example", "outsider@acme.example"):
        assert [m for m in mail_sink.mail(person) if "expire" in m["subject"]] == []
    notices = [n for n in outbox() if n.kind == "lot_expiring"]
    assert sorted(n.user_id for n in notices) == sorted([org.owner, org.admin])
    assert {n.payload["lot_id"] for n in notices} == {lot_id}


def test_no_notice_for_a_lot_outside_the_window(app, mail_sink, make_user):
    user_id = make_user(email="later@example.com", credits=500)
    ledger.grant(user_id, 100, note="later", expires_at=utcnow() + timedelta(days=8))
    ledger.grant(user_id, 100, note="forever")

    ledger.write_expiry_notices()
    sweep.sweep(app.config, lost_after=timedelta(seconds=0))
    run_queued(app)

    assert outbox() == []
    assert mail_sink.mail("later@example.com") == []


def test_no_notice_for_a_lot_with_nothing_left(app, mail_sink, make_user):
    user_id = make_user(email="spent@example.com", credits=0)
    lot_id = ledger.grant(user_id, 50, note="spent", expires_at=utcnow() + timedelta(days=2)).lot_id
    ledger.capture(ledger.hold(user_id, "image", 50).spend_id)

    ledger.write_expiry_notices()
    sweep.sweep(app.config, lost_after=timedelta(seconds=0))
    run_queued(app)

    assert db.session.get(CreditLot, lot_id).remaining == 0
    assert outbox() == []
    assert mail_sink.mail("spent@example.com") == []


@pytest.mark.parametrize(
    ("credits", "amount", "source", "subject", "says"),
    [
        (120, 500, "signup_bonus", "120 credits expire on 14 December 2026", "120 of the 500 credits"),
        (1200, 1200, "purchase", "1,200 credits expire on 14 December 2026", "1,200 credits from a purchase"),
        (1, 1, "grant", "1 credit expires on 14 December 2026", "1 credit from a grant expires on"),
    ],
)
def test_the_notice_says_what_expires_from_which_lot_and_when(credits, amount, source, subject, says):
    payload = {
        "lot_id": 7,
        "credits": credits,
        "amount": amount,
        "source": source,
        "expires_at": "2026-12-14T09:30:00+00:00",
    }

    email = notifications.compose("lot_expiring", payload, "https://credits.example.com")

    assert email.subject == subject
    assert says in email.text and "14 December 2026 at 09:30 UTC" in email.text
    assert "https://credits.example.com/account/credits" in email.text
    assert '<a href="https://credits.example.com/account/credits">Your credits</a>' in email.html
