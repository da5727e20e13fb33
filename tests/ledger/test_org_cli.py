"""`flask credits grant|lots|balance --org ID`: an organization's wallet from the command line,
and an organization's lots expiring and voided like anyone's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditLot, utcnow

LOT_LINE = re.compile(r"^lot (\d+): organization (\d+) \(Acme\) \+250 credits")


@pytest.fixture
def org(make_user):
    owner = make_user("founder@example.com")
    org_id = teams.create_organization(owner, "Acme")
    return {"id": org_id, "owner": owner, "wallet_id": teams.organization_for(org_id, owner).wallet_id}


def org_lots(wallet_id: int) -> list[CreditLot]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(CreditLot).where(CreditLot.wallet_id == wallet_id)))


def test_grant_with_org_credits_the_organizations_wallet_with_a_lot(runner, org):
    result = runner.invoke(
        args=[
            "credits",
            "grant",
            "--org",
            str(org["id"]),
            "250",
            "--reason",
            "pilot customer",
            "--category",
            "paid",
            "--priority",
            "20",
            "--expires-in-days",
            "30",
        ]
    )

    assert result.exit_code == 0, result.output
    match = LOT_LINE.match(result.output)
    assert match and int(match.group(2)) == org["id"], result.output
    assert "paid, priority 20" in result.output and "balance now 250" in result.output
    [lot] = org_lots(org["wallet_id"])
    assert lot.id == int(match.group(1))
    assert (lot.source, lot.category, lot.priority, lot.amount, lot.reason) == (
        "grant",
        "paid",
        20,
        250,
        "pilot customer",
    )
    assert lot.expires_at is not None
    assert ledger.wallet_balance(org["wallet_id"]).credits == 250
    assert ledger.balance(org["owner"]).credits == 500  # the founder's own wallet is untouched
    adjustment = db.session.execute(
        sa.select(CreditAdjustment).where(CreditAdjustment.lot_id == lot.id)
    ).scalar_one()
    assert (adjustment.wallet_id, adjustment.user_id) == (org["wallet_id"], org["owner"])
    assert ledger.audit() == []


def test_balance_and_lots_with_org_read_the_organizations_wallet(runner, org):
    runner.invoke(args=["credits", "grant", "--org", str(org["id"]), "250", "--reason", "pilot"])
    runner.invoke(args=["credits", "grant", "--org", str(org["id"]), "-50", "--reason", "too much"])

    balance = runner.invoke(args=["credits", "balance", "--org", str(org["id"])])
    lots = runner.invoke(args=["credits", "lots", "--org", str(org["id"])])

    assert balance.exit_code == 0 and balance.output == f"organization {org['id']} (Acme): 200 credits\n"
    assert lots.exit_code == 0
    [line] = lots.output.splitlines()
    assert "grant  promotional  priority 50  200/250  expires never" in line


def test_an_organization_with_no_lots_says_so(runner, org):
    result = runner.invoke(args=["credits", "lots", "--org", str(org["id"])])
    assert result.exit_code == 0 and result.output == f"organization {org['id']} (Acme): no lots\n"


def test_the_email_usage_keeps_working_beside_org(runner, org):
    result = runner.invoke(args=["credits", "grant", "founder@example.com", "25", "--reason", "personal"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("lot ") and "founder@example.com +25 credits" in result.output
    assert ledger.balance(org["owner"]).credits == 525
    assert ledger.wallet_balance(org["wallet_id"]).credits == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["grant", "founder@example.com", "10", "--org", "{org}", "--reason", "x"], "not both"),
        (["grant", "--org", "999999", "10", "--reason", "x"], "no organization with id 999999"),
        (["grant", "--org", "{org}", "--reason", "x"], "Missing argument 'AMOUNT'"),
        (["grant", "--org", "{org}", "ten", "--reason", "x"], "is not a whole number"),
        (["grant", "--org", "{org}", "-10", "--reason", "x"], "below zero"),
        (["balance"], "give either EMAIL or --org ID"),
        (["lots", "founder@example.com", "--org", "{org}"], "not both"),
    ],
)
def test_bad_org_usage_is_refused_on_stderr_and_writes_nothing(runner, org, args, message):
    args = [arg.replace("{org}", str(org["id"])) for arg in args]
    result = runner.invoke(args=["credits", *args])

    assert result.exit_code != 0
    assert message in result.output
    assert org_lots(org["wallet_id"]) == []
    assert (
        ledger.wallet_balance(org["wallet_id"]).credits == 0 and ledger.balance(org["owner"]).credits == 500
    )


def test_an_organizations_lot_expires_in_the_sweep_like_anyones(runner, org):
    runner.invoke(args=["credits", "grant", "--org", str(org["id"]), "80", "--reason", "trial"])
    [lot] = org_lots(org["wallet_id"])
    db.session.execute(
        sa.update(CreditLot).where(CreditLot.id == lot.id).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()

    result = runner.invoke(args=["credits", "expire"])

    assert result.exit_code == 0, result.output
    assert f"expired lot {lot.id} of wallet {org['wallet_id']}: 80 credits" in result.output
    assert ledger.wallet_balance(org["wallet_id"]).credits == 0
    expired = db.session.execute(
        sa.select(CreditAdjustment).where(CreditAdjustment.reason == "expired")
    ).scalar_one()
    assert (expired.wallet_id, expired.user_id, expired.amount) == (org["wallet_id"], org["owner"], -80)
    assert ledger.audit() == []
