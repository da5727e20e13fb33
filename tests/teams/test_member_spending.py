"""Spending from an organization's wallet: the member's monthly limit checked atomically with
the hold (lock order wallet, membership, key), the personal wallet untouched."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.extensions import db
from creditapp.ledger import job_holds
from creditapp.ledger.member_limits import MemberLimitReached, NotAMember
from creditapp.models import CreditSpend, User, Wallet, utcnow
from tests.support.threads import race


def org_spend(user_id: int, wallet_id: int, cost: int, **extra) -> job_holds.JobHold:
    return job_holds.hold_for_job(
        user_id, "image", cost, {}, utcnow() + timedelta(minutes=5), wallet_id=wallet_id, **extra
    )


def wallet_balance(wallet_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(Wallet.balance).where(Wallet.id == wallet_id)).scalar_one()


def member_spent(user_id: int, wallet_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(CreditSpend.credits_spent), 0)).where(
                CreditSpend.user_id == user_id,
                CreditSpend.wallet_id == wallet_id,
                CreditSpend.status.in_(("held", "captured")),
            )
        ).scalar_one()


@pytest.fixture
def funded_org(make_user):
    """An organization with 100 credits granted by its owner, and one member (limit 20)."""
    owner = make_user("owner@example.com")
    member = make_user("member@example.com", credits=50)
    org_id = teams.create_organization(owner, "Acme")
    wallet_id = teams.organization_for(org_id, owner).wallet_id
    ledger.grant(owner, 100, note="test funding", wallet_id=wallet_id)
    _, token = teams.invite(org_id, owner, "member@example.com", "member")
    teams.accept(token, member)
    teams.set_member_limit(org_id, owner, member, 20)
    return {"id": org_id, "owner": owner, "member": member, "wallet_id": wallet_id}


def test_a_spend_from_the_organization_comes_out_of_its_wallet_not_the_personal_one(funded_org):
    held = org_spend(funded_org["member"], funded_org["wallet_id"], 7)

    assert held.spend.balance == 93
    assert wallet_balance(funded_org["wallet_id"]) == 93
    assert ledger.balance(funded_org["member"]).credits == 50
    assert ledger.audit() == []


def test_a_spend_past_the_members_monthly_limit_is_refused_and_writes_nothing(funded_org):
    org_spend(funded_org["member"], funded_org["wallet_id"], 15)

    with pytest.raises(MemberLimitReached) as refusal:
        org_spend(funded_org["member"], funded_org["wallet_id"], 6)

    assert (refusal.value.limit, refusal.value.spent, refusal.value.required) == (20, 15, 6)
    assert wallet_balance(funded_org["wallet_id"]) == 85
    assert member_spent(funded_org["member"], funded_org["wallet_id"]) == 15
    org_spend(funded_org["member"], funded_org["wallet_id"], 5)
    assert ledger.audit() == []


def test_released_spends_do_not_count_against_the_limit(funded_org):
    held = org_spend(funded_org["member"], funded_org["wallet_id"], 20)
    job_holds.end_job_and_release(held.job_id, "canceled", "canceled", "canceled")

    org_spend(funded_org["member"], funded_org["wallet_id"], 20)

    assert wallet_balance(funded_org["wallet_id"]) == 80
    assert ledger.audit() == []


def test_an_owner_without_a_limit_spends_up_to_the_balance(funded_org):
    org_spend(funded_org["owner"], funded_org["wallet_id"], 100)

    with pytest.raises(ledger.InsufficientCredits) as refusal:
        org_spend(funded_org["owner"], funded_org["wallet_id"], 1)
    assert refusal.value.balance == 0


def test_a_removed_member_cannot_spend_at_once(funded_org, make_user):
    teams.remove_member(funded_org["id"], funded_org["owner"], funded_org["member"])
    outsider = make_user("outsider@example.com")

    for user_id in (funded_org["member"], outsider):
        with pytest.raises(NotAMember):
            org_spend(user_id, funded_org["wallet_id"], 1)
    assert wallet_balance(funded_org["wallet_id"]) == 100


def test_a_personal_wallet_is_not_an_organization_wallet(funded_org, make_user):
    with db.engine.connect() as conn:
        personal = conn.execute(sa.select(User.wallet_id).where(User.id == funded_org["owner"])).scalar_one()
    with pytest.raises(NotAMember):
        org_spend(funded_org["member"], personal, 1)


def test_thirty_members_racing_never_pass_their_limits_nor_the_balance(app, make_user):
    owner = make_user("owner@example.com")
    org_id = teams.create_organization(owner, "Racers")
    wallet_id = teams.organization_for(org_id, owner).wallet_id
    ledger.grant(owner, 200, note="race funding", wallet_id=wallet_id)
    members = []
    for i in range(30):
        user_id = make_user(f"racer{i}@example.com")
        _, token = teams.invite(org_id, owner, f"racer{i}@example.com", "member")
        teams.accept(token, user_id)
        teams.set_member_limit(org_id, owner, user_id, 10)
        members.append(user_id)

    def spend_until_refused(i: int) -> int:
        spent = 0
        for _ in range(6):  # 6 × 3 credits: twice the limit of 10
            try:
                org_spend(members[i], wallet_id, 3)
                spent += 3
            except (MemberLimitReached, ledger.InsufficientCredits):
                pass
        return spent

    outcomes = race(app, spend_until_refused, 30)

    assert not [o for o in outcomes if isinstance(o, Exception)]
    for user_id, spent in zip(members, outcomes, strict=True):
        assert spent <= 10
        assert member_spent(user_id, wallet_id) == spent
    assert sum(outcomes) == 200 - wallet_balance(wallet_id)
    assert wallet_balance(wallet_id) >= 0
    assert sum(outcomes) > 190  # the balance, not the limits (30 × 9 = 270), ran out
    assert ledger.audit() == []


def test_a_feature_started_past_the_members_limit_answers_402_member_limit_reached(app, funded_org):
    from flask_login import login_user

    from creditapp.features import registry, starting

    feature = registry.get("qr")
    with app.test_request_context("/features/qr", method="POST"):
        login_user(db.session.get(User, funded_org["member"]))
        status, details = starting.start(feature, {"text": "hello"}, None, wallet_id=funded_org["wallet_id"])
        assert status in (200, 202)
        teams.set_member_limit(funded_org["id"], funded_org["owner"], funded_org["member"], 0)
        status, details = starting.start(feature, {"text": "hello"}, None, wallet_id=funded_org["wallet_id"])

    assert status == 402
    assert details["error"] == "member_limit_reached"
    assert details["limit"] == 0


def test_a_job_started_before_removal_finishes_and_is_charged_to_the_organization(funded_org):
    held = org_spend(
        funded_org["member"], funded_org["wallet_id"], 9, lease_until=utcnow() + timedelta(minutes=1)
    )
    teams.remove_member(funded_org["id"], funded_org["owner"], funded_org["member"])

    assert job_holds.succeed_job(held.job_id, "results/test.png") == "succeeded"

    with db.engine.connect() as conn:
        spend = conn.execute(sa.select(CreditSpend).where(CreditSpend.id == held.spend.spend_id)).one()
    assert (spend.status, spend.wallet_id, spend.credits_spent) == ("captured", funded_org["wallet_id"], 9)
    assert wallet_balance(funded_org["wallet_id"]) == 91
    assert ledger.audit() == []
