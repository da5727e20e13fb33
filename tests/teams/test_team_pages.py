"""The organization pages: who sees what, who may act (403), and a 404 for everyone outside."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from creditapp import teams
from creditapp.extensions import db
from creditapp.models import Invitation, Membership, Notification, Organization, utcnow

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def snapshot() -> dict:
    with db.engine.connect() as conn:
        return {
            table.name: sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
            for table in (
                Organization.__table__,
                Membership.__table__,
                Invitation.__table__,
                Notification.__table__,
            )
        }


def csrf(client, path: str = "/orgs/new") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def org(make_user):
    owner = make_user("owner@example.com")
    member = make_user("member@example.com")
    org_id = teams.create_organization(owner, "Acme")
    _, token = teams.invite(org_id, owner, "member@example.com", "member")
    teams.accept(token, member)
    invitation_id, _ = teams.invite(org_id, owner, "pending@example.com", "member")
    return {"id": org_id, "owner": owner, "member": member, "invitation_id": invitation_id}


def actions(org: dict) -> list[tuple[str, dict]]:
    """Every POST route of an organization, with a form that would change something."""
    base, owner = f"/orgs/{org['id']}", org["owner"]
    return [
        (f"{base}/invitations", {"email": "new@example.com", "role": "member"}),
        (f"{base}/invitations/{org['invitation_id']}/revoke", {}),
        (f"{base}/members/{owner}/role", {"role": "member"}),
        (f"{base}/members/{owner}/limit", {"limit": "5"}),
        (f"{base}/members/{owner}/limit", {"limit": "not a number"}),
        (f"{base}/members/{owner}/remove", {}),
    ]


def test_creating_an_organization_from_the_page_makes_you_its_owner(client, make_user, sign_in_as):
    sign_in_as(client, make_user("founder@example.com"))

    response = client.post("/orgs/new", data={"name": "Acme", "csrf_token": csrf(client)})

    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Acme: members" in html and "founder@example.com" in html and "Send the invitation" in html


def test_an_owner_invites_changes_a_limit_and_removes_from_the_page(client, org, sign_in_as):
    sign_in_as(client, org["owner"])
    token = csrf(client)
    base = f"/orgs/{org['id']}"

    assert (
        client.post(
            f"{base}/invitations", data={"email": "x@example.com", "role": "admin", "csrf_token": token}
        ).status_code
        == 303
    )
    assert (
        client.post(
            f"{base}/members/{org['member']}/limit", data={"limit": "1,500", "csrf_token": token}
        ).status_code
        == 303
    )
    assert {m.user_id: m.monthly_credit_limit for m in teams.members_of(org["id"])}[org["member"]] == 1500
    assert (
        client.post(f"{base}/members/{org['member']}/remove", data={"csrf_token": token}).status_code == 303
    )
    assert teams.member_role(org["id"], org["member"]) is None


def test_the_last_owner_leaving_gets_the_reason_and_nothing_changes(client, org, sign_in_as):
    sign_in_as(client, org["owner"])
    before = snapshot()

    response = client.post(f"/orgs/{org['id']}/leave", data={"csrf_token": csrf(client)})

    assert response.status_code == 409
    assert "The last owner cannot leave" in response.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("limit", ["²", "99999999999999999999"])
def test_a_limit_no_number_of_credits_can_be_is_refused_with_the_reason(client, org, sign_in_as, limit):
    sign_in_as(client, org["owner"])
    before = snapshot()

    response = client.post(
        f"/orgs/{org['id']}/members/{org['member']}/limit",
        data={"limit": limit, "csrf_token": csrf(client, f"/orgs/{org['id']}/members")},
    )

    assert response.status_code == 400
    assert "A limit is a whole number of credits" in response.get_data(as_text=True)
    assert snapshot() == before


def test_a_member_sees_the_list_but_every_action_is_a_403_and_writes_nothing(client, org, sign_in_as):
    sign_in_as(client, org["member"])
    page = client.get(f"/orgs/{org['id']}/members")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "owner@example.com" in html
    assert "Send the invitation" not in html and "pending@example.com" not in html
    token = csrf(client)
    before = snapshot()

    for path, form in actions(org):
        assert client.post(path, data={**form, "csrf_token": token}).status_code == 403, path

    assert snapshot() == before


@pytest.mark.parametrize("who", ["outsider", "removed"])
def test_everything_of_an_organization_is_a_404_outside_it(client, org, make_user, sign_in_as, who):
    if who == "outsider":
        person = make_user("outsider@example.com")
    else:
        person = org["member"]
        teams.remove_member(org["id"], org["owner"], person)
    sign_in_as(client, person)
    token = csrf(client)
    before = snapshot()

    assert client.get(f"/orgs/{org['id']}/members").status_code == 404
    for path, form in [*actions(org), (f"/orgs/{org['id']}/leave", {})]:
        assert client.post(path, data={**form, "csrf_token": token}).status_code == 404, path
    assert client.get("/orgs/999999/members").status_code == 404

    assert snapshot() == before


def test_an_invitation_link_accepted_by_its_account(client, make_user, org, sign_in_as):
    invitee = make_user("guest@example.com")
    _, token = teams.invite(org["id"], org["owner"], "guest@example.com", "admin")
    sign_in_as(client, invitee)

    page = client.get(f"/invitations/{token}")
    assert page.status_code == 200 and "Join Acme" in page.get_data(as_text=True)
    response = client.post(f"/invitations/{token}", data={"csrf_token": csrf(client)})

    assert response.status_code == 303
    assert teams.member_role(org["id"], invitee) == "admin"


@pytest.mark.parametrize(
    ("case", "words", "status"),
    [
        ("wrong_account", "for another e-mail address", 403),
        ("expired", "has expired", 410),
        ("revoked", "was withdrawn", 410),
        ("used", "was used already", 410),
        ("unknown", "not valid", 404),
    ],
)
def test_an_invitation_link_that_cannot_be_used_says_why_and_writes_nothing(
    client, make_user, org, sign_in_as, case, words, status
):
    guest = make_user("guest@example.com")
    other = make_user("other@example.com")
    invitation_id, token = teams.invite(org["id"], org["owner"], "guest@example.com", "member")
    person = guest
    if case == "wrong_account":
        person = other
    elif case == "expired":
        with db.engine.begin() as conn:
            conn.execute(
                sa.update(Invitation).where(Invitation.id == invitation_id).values(expires_at=utcnow())
            )
    elif case == "revoked":
        teams.revoke_invitation(org["id"], org["owner"], invitation_id)
    elif case == "used":
        teams.accept(token, guest)
    elif case == "unknown":
        token = "not-a-token"
    sign_in_as(client, person)
    form_token = csrf(client)
    before = snapshot()

    page = client.get(f"/invitations/{token}")
    answer = client.post(f"/invitations/{token}", data={"csrf_token": form_token})

    for response in (page, answer):
        assert response.status_code == status
        assert words in response.get_data(as_text=True)
    assert snapshot() == before


def test_the_organizations_page_lists_yours_with_links_to_spend_from_each(client, org, make_user, sign_in_as):
    sign_in_as(client, org["member"])

    html = client.get("/orgs").get_data(as_text=True)

    assert f'<a href="/orgs/{org["id"]}/members">Acme</a>' in html
    assert f'href="/features/qr?org={org["id"]}"' in html
    assert "/orgs/new" in html and 'href="/orgs"' in client.get("/account").get_data(as_text=True)
    sign_in_as(client, make_user("outsider@example.com"))
    assert "Acme" not in client.get("/orgs").get_data(as_text=True)
