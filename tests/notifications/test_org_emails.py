"""Low-balance e-mail of an organization's wallet: written in the spend's own transaction, one
to each owner and admin (once per crossing), none to plain members; personal alerts unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from creditapp import ledger
from creditapp.extensions import db
from creditapp.ledger import job_holds
from creditapp.models import Notification, Organization, utcnow
from tests.support import stripe_helpers
from tests.support.jobs import run_queued
from tests.support.orgs import Org, make_org
from tests.support.stripe_helpers import csrf_token, wait_for

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


def org_spend(user_id: int, org: Org, cost: int) -> None:
    job_holds.hold_for_job(
        user_id, "image", cost, {}, utcnow() + timedelta(minutes=5), wallet_id=org.wallet_id
    )


def low_balance_rows(wallet_id: int) -> list[Notification]:
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.kind == "low_balance", Notification.wallet_id == wallet_id)
            .order_by(Notification.id)
        )
    )


def set_org_alert(client, org: Org, level: int) -> None:
    response = client.post(
        "/account/notifications",
        data={"alert": "1", "level": str(level), "org": str(org.id), "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/account/notifications?org={org.id}")


def low_mail(sink, address: str) -> list[dict]:
    return [mail for mail in sink.mail(address) if "balance is" in mail["subject"]]


def test_a_members_spend_below_the_level_e_mails_each_owner_and_admin_once_and_no_member(
    app, mail_sink, client, make_user, sign_in_as
):
    org = make_org(make_user, tag="low", credits=100)
    sign_in_as(client, org.admin)
    set_org_alert(client, org, 50)

    org_spend(org.member, org, 60)  # 100 → 40: crosses below 50
    org_spend(org.member, org, 5)  # 40 → 35: still below, no second e-mail

    rows = low_balance_rows(org.wallet_id)
    assert sorted(row.user_id for row in rows) == [org.owner, org.admin]
    assert {row.status for row in rows} == {"pending"}
    run_queued(app)
    wait_for(lambda: low_mail(mail_sink, "owner@low.example"), what="the owner's e-mail")
    for who in ("owner", "admin"):
        [mail] = low_mail(mail_sink, f"{who}@low.example")
        assert mail["subject"] == "Acme's balance is 40 credits"
        assert f"/buy-credits?org={org.id}" in mail["text"] and "owner or admin of Acme" in mail["text"]
    for who in ("member", "removed", "outsider"):
        assert low_mail(mail_sink, f"{who}@low.example") == []


def test_the_organizations_alert_is_re_armed_when_its_balance_is_back_at_the_level(
    app, mail_sink, client, make_user, sign_in_as
):
    org = make_org(make_user, tag="rearm", credits=100)
    sign_in_as(client, org.owner)
    set_org_alert(client, org, 50)
    org_spend(org.member, org, 60)

    ledger.grant(org.owner, 30, note="top up by hand", wallet_id=org.wallet_id)  # 70: back above
    org_spend(org.admin, org, 25)  # 45: a second crossing

    assert len(low_balance_rows(org.wallet_id)) == 4  # two crossings × owner and admin


def test_the_organizations_level_is_its_own_and_a_personal_alert_is_unchanged(
    app, mail_sink, client, make_user, sign_in_as
):
    org = make_org(make_user, tag="own", credits=100)
    sign_in_as(client, org.owner)
    set_org_alert(client, org, 50)

    page = unescape(client.get(f"/account/notifications?org={org.id}").get_data(as_text=True))
    own = client.get("/account/notifications").get_data(as_text=True)
    org_spend(org.owner, org, 60)
    db.session.rollback()

    assert "E-mail alerts for Acme" in page and "on, below 50 credits" in page
    assert "Low-balance e-mail is <strong>off</strong>" in own
    level = db.session.execute(
        sa.select(Organization.low_balance_alert_level).where(Organization.id == org.id)
    )
    assert level.scalar_one() == 50
    [owners] = [row for row in low_balance_rows(org.wallet_id) if row.user_id == org.owner]
    assert (owners.payload["organization"], owners.payload["balance"]) == ("Acme", 40)
