"""Automatic top-up for an organization: a card saved on its own Customer, charged off-session
when any member's spend takes its wallet below the threshold, the top-up credited to the
organization (never a person), its e-mails to its owners and admins only, its pages for them alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.ledger import job_holds
from creditapp.models import Notification, utcnow
from creditapp.platform import stripe_client
from tests.support.jobs import run_queued
from tests.support.orgs import (
    Org,
    customer_of,
    make_org,
    org_checkout,
    purchases_into,
    row_counts,
    topup_settings,
    wait_for_wallet,
)
from tests.support.stripe_helpers import credits, csrf_token, price_id, wait_for
from tests.topups.conftest import settings as personal_settings


def org_spend(user_id: int, org: Org, cost: int) -> job_holds.JobHold:
    """A member's spend from the organization's wallet (a job's hold, as the feature pages make)."""
    return job_holds.hold_for_job(
        user_id, "image", cost, {}, utcnow() + timedelta(minutes=5), wallet_id=org.wallet_id
    )


def org_with_card(topups, client, make_user, sign_in_as, card: str = "4242", tag: str = "acme") -> Org:
    """An organization whose owner bought it 100 credits, saving the card for its top-ups."""
    org = make_org(make_user, tag=tag)
    sign_in_as(client, org.owner)
    session_id = org_checkout(client, org.id, 100, save_card="1")
    topups.pay(session_id, card=card)
    wait_for_wallet(org.wallet_id, 100)
    wait_for(
        lambda: topup_settings(org.wallet_id) and topup_settings(org.wallet_id).card_last4, what="the card"
    )
    return org


def enable_for(client, org: Org, threshold: int, pack: int = 100, cap: int = 3) -> None:
    response = client.post(
        "/account/auto-recharge",
        data={
            "enabled": "1",
            "threshold": str(threshold),
            "price_id": price_id(pack),
            "monthly_cap": str(cap),
            "org": str(org.id),
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/account/auto-recharge?org={org.id}")


def mail_about_money(topups, address: str) -> list[dict]:
    """The e-mails an address got, but its invitation to the organization."""
    return [mail for mail in topups.mail(address) if "invited you" not in mail["subject"]]


def settle_everything(app, topups, event_type: str) -> None:
    run_queued(app)  # the worker charges the saved card off-session
    wait_for(lambda: topups.deliveries(type=event_type), what=event_type)
    topups.wait_until_idle()
    run_queued(app)  # the e-mails the outcome wrote


def test_a_members_spend_below_the_threshold_tops_up_the_organization_with_its_own_card(
    app, topups, client, make_user, sign_in_as
):
    org = org_with_card(topups, client, make_user, sign_in_as)
    enable_for(client, org, threshold=80)
    saved = topup_settings(org.wallet_id)
    assert saved.enabled and saved.user_id == org.owner
    assert personal_settings(org.owner) is None  # nothing saved on the owner's own wallet

    org_spend(org.member, org, 30)  # 100 → 70, below 80
    settle_everything(app, topups, "payment_intent.succeeded")

    wait_for_wallet(org.wallet_id, 170)
    top_up = purchases_into(org.wallet_id)[-1]
    assert (top_up.source, top_up.status, top_up.credits_purchased) == ("auto_recharge", "completed", 100)
    intent = stripe_client.client().v1.payment_intents.retrieve(top_up.stripe_payment_intent_id)
    assert intent.customer == customer_of(org.id)
    assert intent.payment_method == saved.payment_method_id
    assert [credits(who) for who in (org.owner, org.admin, org.member)] == [500, 500, 500]
    assert ledger.audit() == []


def test_the_organizations_top_up_receipt_goes_to_each_owner_and_admin_and_no_member(
    app, topups, client, make_user, sign_in_as
):
    org = org_with_card(topups, client, make_user, sign_in_as, tag="receipts")
    enable_for(client, org, threshold=80)

    org_spend(org.member, org, 30)
    settle_everything(app, topups, "payment_intent.succeeded")
    wait_for(lambda: mail_about_money(topups, "admin@receipts.example"), what="the receipts")

    subject = "Receipt: automatic top-up of 100 credits for Acme"
    assert [m["subject"] for m in mail_about_money(topups, "owner@receipts.example")] == [subject]
    assert [m["subject"] for m in mail_about_money(topups, "admin@receipts.example")] == [subject]
    for who in ("member", "removed", "outsider"):
        assert mail_about_money(topups, f"{who}@receipts.example") == []
    [receipt] = mail_about_money(topups, "admin@receipts.example")
    assert f"/account/auto-recharge?org={org.id}" in receipt["text"] and "170 credits" in receipt["text"]


def test_a_declined_organization_top_up_e_mails_its_owners_and_admins_and_credits_no_one(
    app, topups, client, make_user, sign_in_as
):
    org = org_with_card(topups, client, make_user, sign_in_as, card="0341", tag="declined")
    enable_for(client, org, threshold=80)

    org_spend(org.admin, org, 30)
    settle_everything(app, topups, "payment_intent.payment_failed")
    wait_for(lambda: mail_about_money(topups, "admin@declined.example"), what="the failure e-mails")

    assert purchases_into(org.wallet_id)[-1].status == "failed"
    assert topup_settings(org.wallet_id).consecutive_failures == 1
    for who in ("owner", "admin"):
        [mail] = mail_about_money(topups, f"{who}@declined.example")
        assert mail["subject"] == "Automatic top-up failed for Acme"
        assert f"/buy-credits?org={org.id}" in mail["text"] and "70 credits" in mail["text"]
    assert mail_about_money(topups, "member@declined.example") == []
    wait_for_wallet(org.wallet_id, 70)


@pytest.mark.parametrize(("card", "sent"), [("4242", False), ("0341", True)], ids=["refilled", "declined"])
def test_the_low_balance_e_mails_wait_for_the_organizations_top_up_in_flight(
    app, topups, client, make_user, sign_in_as, card, sent
):
    org = org_with_card(topups, client, make_user, sign_in_as, card=card, tag=f"deferred-{card}")
    enable_for(client, org, threshold=80)
    response = client.post(
        "/account/notifications",
        data={"alert": "1", "level": "75", "org": str(org.id), "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 303

    org_spend(org.member, org, 30)  # 100 → 70: below the level and the threshold
    waiting = low_balance_statuses(org.wallet_id)
    settle_everything(app, topups, "payment_intent.payment_failed" if sent else "payment_intent.succeeded")

    assert waiting == {org.owner: "deferred", org.admin: "deferred"}
    expected = "sent" if sent else "dropped"
    wait_for(
        lambda: low_balance_statuses(org.wallet_id) == {org.owner: expected, org.admin: expected},
        what=expected,
    )
    low = [
        m
        for m in topups.mail(f"owner@deferred-{card}.example")
        if m["subject"] == "Acme's balance is 70 credits"
    ]
    assert len(low) == (1 if sent else 0)


def low_balance_statuses(wallet_id: int) -> dict[int, str]:
    db.session.rollback()
    rows = db.session.execute(
        sa.select(Notification.user_id, Notification.status).where(
            Notification.kind == "low_balance", Notification.wallet_id == wallet_id
        )
    ).all()
    return dict(rows)


def test_the_organizations_top_up_page_shows_its_settings_not_the_managers_own(
    topups, client, make_user, sign_in_as
):
    org = org_with_card(topups, client, make_user, sign_in_as, tag="page")
    sign_in_as(client, org.admin)

    page = client.get(f"/account/auto-recharge?org={org.id}").get_data(as_text=True)
    own = client.get("/account/auto-recharge").get_data(as_text=True)

    assert "Automatic top-up for Acme" in page and "Visa ending in 4242" in page
    assert f'<input type="hidden" name="org" value="{org.id}">' in page
    assert "No card saved" in own


ROUTES = [
    ("get", "/account/auto-recharge", {}),
    ("post", "/account/auto-recharge", {"enabled": "1", "threshold": "50", "monthly_cap": "2"}),
    ("get", "/account/auto-recharge/card/remove", {}),
    ("post", "/account/auto-recharge/card/remove", {"confirm": "yes"}),
    ("get", "/account/notifications", {}),
    ("post", "/account/notifications", {"alert": "1", "level": "40"}),
]


@pytest.mark.parametrize(("who", "status"), [("member", 403), ("removed", 404), ("outsider", 404)])
def test_only_owners_and_admins_use_the_organizations_top_up_and_alert_pages_and_a_refusal_writes_nothing(
    topups, client, make_user, sign_in_as, who, status
):
    org = org_with_card(topups, client, make_user, sign_in_as, tag=f"refused-{who}")
    enable_for(client, org, threshold=10)
    sign_in_as(client, getattr(org, who))
    before, saved = row_counts(), topup_settings(org.wallet_id)
    token = csrf_token(client)

    answers = []
    for method, path, form in ROUTES:
        if method == "get":
            answers.append(client.get(f"{path}?org={org.id}").status_code)
        else:
            data = {**form, "price_id": price_id(100), "org": str(org.id), "csrf_token": token}
            answers.append(client.post(path, data=data).status_code)

    assert answers == [status] * len(ROUTES)
    assert row_counts() == before
    after = topup_settings(org.wallet_id)
    assert (after.enabled, after.threshold, after.payment_method_id) == (True, 10, saved.payment_method_id)
    assert topups.stripe_requests("/v1/payment_methods") == []
