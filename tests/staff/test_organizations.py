"""Organizations in the staff console: found by name, id or a member's e-mail; their page; grants,
debits and voids on their wallet through the same confirmation, once-only token and trail; and
everyone who is not staff (members and owners included) gets a 404 and writes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.accounts import api_keys, org_keys
from creditapp.extensions import db
from creditapp.ledger import job_holds
from creditapp.models import (
    AdminAction,
    ApiKey,
    AutoRechargeSettings,
    CreditAdjustment,
    CreditLot,
    CreditPurchase,
    utcnow,
)
from tests.staff.conftest import TOKEN, csrf_token


@pytest.fixture
def org(make_user):
    """Acme: an owner, a member with a monthly limit who spent 30 from it, a pending
    invitation, and 1,000 credits granted to its wallet."""
    owner = make_user("olive.owner@example.com", name="Olive Owner")
    member = make_user("mo.member@example.com", name="Mo Member")
    org_id = teams.create_organization(owner, "Acme Rockets")
    _, token = teams.invite(org_id, owner, "mo.member@example.com", "member")
    teams.accept(token, member)
    teams.set_member_limit(org_id, owner, member, 200)
    teams.invite(org_id, owner, "pending.person@example.com", "admin")
    wallet_id = teams.organization_for(org_id, owner).wallet_id
    ledger.grant(owner, 1000, note="test funding", wallet_id=wallet_id)
    spent = job_holds.hold_for_job(
        member, "image", 30, {"prompt": "a fox"}, utcnow() + timedelta(minutes=5), wallet_id=wallet_id
    )
    return {"id": org_id, "owner": owner, "member": member, "wallet_id": wallet_id, "job": spent.job_id}


@pytest.fixture
def act_on_org(staff_client):
    """Run an action on an organization: the first POST, then the confirmation; both answers."""

    def run(org_id: int, name: str, confirm_twice: bool = False, **form):
        token = csrf_token(staff_client)
        url = f"/admin/organizations/{org_id}/actions/{name}"
        first = staff_client.post(url, data={"csrf_token": token, **form})
        if first.status_code != 200 or "Confirm:" not in first.get_data(as_text=True):
            return first, None
        confirm = {"csrf_token": token, "token": TOKEN.search(first.get_data(as_text=True)).group(1), **form}
        second = staff_client.post(url, data=confirm)
        if confirm_twice:
            second = staff_client.post(url, data=confirm)
        return first, second

    return run


def wallet_credits(wallet_id: int) -> int:
    db.session.rollback()
    return ledger.wallet_balance(wallet_id).credits


def trail() -> list[AdminAction]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AdminAction).order_by(AdminAction.id)))


def staff_adjustments(wallet_id: int) -> list[CreditAdjustment]:
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(CreditAdjustment)
            .where(CreditAdjustment.wallet_id == wallet_id, CreditAdjustment.admin_user_id.is_not(None))
            .order_by(CreditAdjustment.id)
        )
    )


def search(staff_client, query: str) -> str:
    response = staff_client.get("/admin/", query_string={"q": query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def in_a_week() -> str:
    return (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")


# --- finding an organization ------------------------------------------------------------------


def test_search_finds_an_organization_by_name_by_id_and_by_a_members_email(staff_client, org):
    link = f'href="/admin/organizations/{org["id"]}"'
    assert link in search(staff_client, "acme ROCK")
    assert link in search(staff_client, str(org["id"]))
    by_member = search(staff_client, "mo.member@")
    assert link in by_member and "a member&#39;s e-mail" in by_member
    # the person is found too, as a customer
    assert f'href="/admin/customers/{org["member"]}"' in by_member


def test_search_says_when_no_organization_matches(staff_client, org):
    page = search(staff_client, "no-such-team")
    assert "No organization matches" in page and "/admin/organizations/" not in page


def test_the_customer_page_lists_their_organizations_with_their_role(staff_client, org):
    page = staff_client.get(f"/admin/customers/{org['member']}").get_data(as_text=True)
    assert f'id="staff-org-{org["id"]}"' in page
    assert f'href="/admin/organizations/{org["id"]}">Acme Rockets</a> — member' in page
    lonely = staff_client.get(f"/admin/customers/{org['owner']}").get_data(as_text=True)
    assert "Acme Rockets</a> — owner" in lonely


# --- the organization's page ------------------------------------------------------------------


def test_the_organization_page_shows_wallet_lots_ledger_members_invitations_and_more(staff_client, org):
    db.session.add(
        CreditPurchase(
            user_id=org["owner"],
            wallet_id=org["wallet_id"],
            stripe_price_id="price_team",
            stripe_checkout_session_id="cs_test_team",
            credits_purchased=500,
            amount_paid=2000,
            currency="usd",
            status="pending",
        )
    )
    db.session.add(
        ApiKey(
            user_id=org["owner"],
            wallet_id=org["wallet_id"],
            name="team ci",
            prefix="ca_test_teamkey1",
            secret_hash="x" * 64,
            scopes="spend",
        )
    )
    db.session.add(
        AutoRechargeSettings(
            user_id=org["owner"], wallet_id=org["wallet_id"], enabled=True, threshold=150, pack_credits=500
        )
    )
    db.session.commit()

    response = staff_client.get(f"/admin/organizations/{org['id']}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "<h1>Acme Rockets</h1>" in page and "olive.owner@example.com" in page
    assert 'id="staff-balance">970<' in page  # 1,000 granted, 30 held by the member's job
    [lot] = ledger.wallet_lots(org["wallet_id"])
    assert f'id="staff-lot-{lot.id}"' in page and "970 of 1,000" in page
    # the ledger: the member's spend, then the grant, with who and the running balance
    lines = page[page.index('id="ledger-h"') : page.index('id="members-h"')]
    assert lines.index("mo.member@example.com</td><td>image") < lines.index("test funding")
    assert '<td class="num">-30</td>\n          <td class="num">970</td>' in lines
    assert '<td class="num">+1,000</td>\n          <td class="num">1,000</td>' in lines
    member_row = page[page.index(f'id="staff-member-{org["member"]}"') :]
    assert "<td>member</td>" in member_row[:400] and "200" in member_row[:400] and ">30<" in member_row[:400]
    assert "pending.person@example.com as admin" in page
    assert 'id="staff-purchase-' in page and "cs_test_team" in page
    assert "team ci" in page and "ca_test_teamkey1" in page and "made by olive.owner@example.com" in page
    assert "On: below 150 credits" in page
    assert f'id="staff-job-{org["job"]}"' in page


def test_an_unknown_organization_is_a_404(staff_client):
    assert staff_client.get("/admin/organizations/999999").status_code == 404
    token = csrf_token(staff_client)
    response = staff_client.post(
        "/admin/organizations/999999/actions/grant", data={"csrf_token": token, "amount": "5", "reason": "x"}
    )
    assert response.status_code == 404 and trail() == []


# --- actions on its wallet --------------------------------------------------------------------


@pytest.mark.smoke
def test_granting_an_organization_credits_asks_to_confirm_then_acts_once(act_on_org, org, staff):
    first, second = act_on_org(
        org["id"],
        "grant",
        confirm_twice=True,
        amount="250",
        reason="Launch credit",
        category="paid",
        priority="5",
        expires_on=in_a_week(),
    )

    assert "Confirm: Grant 250 paid credits at priority 5" in first.get_data(as_text=True)
    assert second.status_code == 200 and "acted once" in second.get_data(as_text=True)
    assert "Back to the organization" in second.get_data(as_text=True)
    assert wallet_credits(org["wallet_id"]) == 970 + 250
    assert ledger.balance(org["owner"]).credits == 500  # the personal wallets are untouched
    [grant] = staff_adjustments(org["wallet_id"])
    assert (grant.amount, grant.admin_user_id, grant.note) == (250, staff, "Launch credit")
    assert grant.user_id == org["owner"]  # recorded under the organization's creator
    lot = db.session.get(CreditLot, grant.lot_id)
    assert (lot.wallet_id, lot.category, lot.priority, lot.granted_by) == (org["wallet_id"], "paid", 5, staff)
    assert lot.expires_at is not None
    [row] = trail()
    assert (row.action, row.actor_user_id, row.customer_user_id) == ("grant", staff, None)
    assert (row.target_type, row.target_id) == ("organization", str(org["id"]))
    assert row.parameters["amount"] == 250 and row.reason == "Launch credit"
    assert row.outcome.startswith("Granted 250 credits")


def test_the_trail_row_shows_on_the_organization_page_and_in_the_audit(act_on_org, staff_client, org):
    act_on_org(org["id"], "grant", amount="40", reason="Goodwill for the team")

    page = staff_client.get(f"/admin/organizations/{org['id']}").get_data(as_text=True)
    audit = staff_client.get("/admin/audit").get_data(as_text=True)

    trail_part = page[page.index('id="trail-h"') :]
    assert "Goodwill for the team" in trail_part
    assert f'<a href="/admin/organizations/{org["id"]}">organization {org["id"]}</a>' in audit
    # and not among the staff actions on any one customer
    owner_page = staff_client.get(f"/admin/customers/{org['owner']}").get_data(as_text=True)
    assert "Goodwill for the team" not in owner_page[owner_page.index('id="trail-h"') :]


def test_taking_credits_back_from_an_organization_debits_its_wallet_once(act_on_org, org, staff):
    act_on_org(org["id"], "take_back", confirm_twice=True, amount="120", reason="Granted twice by mistake")

    assert wallet_credits(org["wallet_id"]) == 850
    [debit] = staff_adjustments(org["wallet_id"])
    assert debit.amount == -120 and debit.admin_user_id == staff
    assert len(trail()) == 1


def test_taking_back_more_than_the_organization_has_is_refused(act_on_org, org):
    first, second = act_on_org(org["id"], "take_back", amount="971", reason="x")

    assert second is None and first.status_code == 422
    assert "This organization has only 970 credits" in first.get_data(as_text=True)
    assert wallet_credits(org["wallet_id"]) == 970 and trail() == []


def test_voiding_an_organizations_lot_takes_its_credits_out_once(act_on_org, org, staff):
    [lot] = ledger.wallet_lots(org["wallet_id"])

    act_on_org(org["id"], "void_lot", confirm_twice=True, lot_id=str(lot.id), reason="Test credit, not real")

    assert wallet_credits(org["wallet_id"]) == 0  # 970 left in the lot; the 30 held stay held
    assert db.session.get(CreditLot, lot.id).voided_at is not None
    voided = db.session.execute(
        sa.select(CreditAdjustment).where(CreditAdjustment.reason == "voided")
    ).scalar_one()
    assert (voided.wallet_id, voided.amount, voided.admin_user_id) == (org["wallet_id"], -970, staff)
    [row] = trail()
    assert (row.target_type, row.target_id, row.parameters) == (
        "organization",
        str(org["id"]),
        {"lot_id": lot.id},
    )
    assert ledger.audit() == []


def test_a_lot_of_another_wallet_is_refused_from_the_organization(act_on_org, org):
    [personal] = ledger.lots_of(org["owner"])

    first, second = act_on_org(org["id"], "void_lot", lot_id=str(personal.id), reason="x")

    assert second is None and first.status_code == 404
    assert "This organization has no lot" in first.get_data(as_text=True)
    assert ledger.balance(org["owner"]).credits == 500 and trail() == []


def test_staff_revoke_an_organizations_key_once_and_not_a_personal_one_from_its_page(
    app, staff_client, act_on_org, org
):
    org_token = api_keys.create_key(
        org["owner"], "org script", ["spend", "read"], None, org_id=org["id"]
    ).token
    personal = api_keys.create_key(org["owner"], "own script", ["read"], None)
    [org_key_id] = [k.id for k in org_keys.list_org_keys(org["wallet_id"])]
    page = staff_client.get(f"/admin/organizations/{org['id']}").get_data(as_text=True)
    assert f"revoke-{org_key_id}" in page  # the Revoke form beside the key

    refused, _ = act_on_org(org["id"], "revoke_key", key_id=str(personal.id), reason="x")
    assert refused.status_code == 404 and "This organization has no API key" in refused.get_data(as_text=True)

    first, second = act_on_org(
        org["id"], "revoke_key", confirm_twice=True, key_id=str(org_key_id), reason="Leaked in a log"
    )
    assert (
        first.status_code == 200
        and second.status_code == 200
        and "acted once" in second.get_data(as_text=True)
    )
    db.session.rollback()
    assert db.session.get(ApiKey, org_key_id).revoked_at is not None
    assert db.session.get(ApiKey, personal.id).revoked_at is None
    assert (
        app.test_client()
        .get("/api/user/credits", headers={"Authorization": f"Bearer {org_token}"})
        .status_code
        == 401
    )
    [row] = trail()
    assert (row.action, row.target_type, row.target_id, row.reason) == (
        "revoke_key",
        "organization",
        str(org["id"]),
        "Leaked in a log",
    )
    assert row.parameters["key_id"] == org_key_id


def test_only_the_credit_actions_and_revoking_a_key_act_on_an_organization(staff_client, org):
    token = csrf_token(staff_client)
    for name in ("sign_out_everywhere", "switch_topup_off", "refund", "replay_event", "nope"):
        response = staff_client.post(
            f"/admin/organizations/{org['id']}/actions/{name}",
            data={"csrf_token": token, "reason": "x", "key_id": "1"},
        )
        assert response.status_code == 404, name
    assert trail() == []


def test_a_customers_confirmation_does_not_act_on_an_organization(staff_client, org):
    token = csrf_token(staff_client)
    form = {"csrf_token": token, "amount": "10", "reason": "Goodwill"}
    shown = staff_client.post(f"/admin/customers/{org['owner']}/actions/grant", data=form)
    confirmation = TOKEN.search(shown.get_data(as_text=True)).group(1)

    moved = staff_client.post(
        f"/admin/organizations/{org['id']}/actions/grant", data={**form, "token": confirmation}
    )

    assert moved.status_code == 409
    assert wallet_credits(org["wallet_id"]) == 970 and ledger.balance(org["owner"]).credits == 500
    assert trail() == []


def test_a_used_organization_confirmation_is_refused_for_a_customer(act_on_org, staff_client, org):
    first, _ = act_on_org(org["id"], "grant", amount="10", reason="Goodwill")
    confirmation = TOKEN.search(first.get_data(as_text=True)).group(1)

    again = staff_client.post(
        f"/admin/customers/{org['owner']}/actions/grant",
        data={
            "csrf_token": csrf_token(staff_client),
            "token": confirmation,
            "amount": "10",
            "reason": "Goodwill",
        },
    )

    assert again.status_code == 409 and "another action" in again.get_data(as_text=True)
    assert ledger.balance(org["owner"]).credits == 500 and len(trail()) == 1


# --- nobody else ------------------------------------------------------------------------------


@pytest.mark.smoke
@pytest.mark.parametrize("who", ["signed out", "a customer", "a member", "the owner"])
def test_the_organization_in_the_console_is_a_404_to_anyone_not_staff(app, make_user, sign_in_as, org, who):
    client = app.test_client()
    if who != "signed out":
        user = {"a customer": None, "a member": org["member"], "the owner": org["owner"]}[who]
        sign_in_as(client, user if user is not None else make_user("someone@example.com"))
    token = csrf_token(client)
    [lot] = ledger.wallet_lots(org["wallet_id"])
    base = f"/admin/organizations/{org['id']}"
    requests = [
        ("GET", base, None),
        ("GET", "/admin/", None),
        ("POST", f"{base}/actions/grant", {"amount": "500", "reason": "mine"}),
        ("POST", f"{base}/actions/take_back", {"amount": "500", "reason": "mine"}),
        ("POST", f"{base}/actions/void_lot", {"lot_id": str(lot.id), "reason": "mine"}),
    ]
    for method, url, form in requests:
        data = {"csrf_token": token, **form} if form else None
        response = client.open(url, method=method, data=data)
        assert response.status_code == 404, (who, method, url)
        if form:  # with a made-up confirmation too
            response = client.open(url, method=method, data={**data, "token": "made.up"})
            assert response.status_code == 404, (who, method, url)

    assert wallet_credits(org["wallet_id"]) == 970
    assert staff_adjustments(org["wallet_id"]) == [] and trail() == []
    assert db.session.get(CreditLot, lot.id).voided_at is None


LEDGER_LINE = re.compile(
    r'<tr id="staff-line-(\w+)-\d+">.*?<td class="num">([+-]?[\d,]+)</td>\s*<td class="num">([\d,]+)</td>',
    re.S,
)


def ledger_lines(page: str) -> list[tuple[str, int, int]]:
    """(kind, credits, balance after) of each line of a page's ledger."""
    number = lambda text: int(text.replace(",", ""))  # noqa: E731
    return [(kind, number(amount), number(after)) for kind, amount, after in LEDGER_LINE.findall(page)]


def test_the_organization_ledger_pages_back_with_its_running_balance(staff_client, org):
    for n in range(55):  # with the fixture's grant and spend: 57 lines
        ledger.grant(org["owner"], 1, note=f"drip {n}", wallet_id=org["wallet_id"])

    first = staff_client.get(f"/admin/organizations/{org['id']}").get_data(as_text=True)
    older = re.search(r'href="(/admin/organizations/\d+\?before=[^"#]+)#ledger-h">Older entries', first)
    second = staff_client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)

    newest, oldest = ledger_lines(first), ledger_lines(second)
    assert (len(newest), len(oldest)) == (50, 7) and "Older entries" not in second
    assert newest[0][2] == 1_025  # 1,000 + 55 − 30 held
    assert oldest[-1] == ("adjustment", 1_000, 1_000)  # the first grant
    # each line's balance is the next older line's plus its own credits, across the page break
    lines = newest + oldest
    for newer, older_line in zip(lines, lines[1:], strict=False):
        assert newer[2] - newer[1] == older_line[2]


def test_a_broken_organization_ledger_cursor_is_a_400(staff_client, org):
    assert staff_client.get(f"/admin/organizations/{org['id']}?before=nonsense").status_code == 400
