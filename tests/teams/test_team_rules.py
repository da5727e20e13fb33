"""Teams' rules (DESIGN §19): who may create, invite, accept, change roles, limit, remove, leave.

Every refusal leaves the organization exactly as it was.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.extensions import db
from creditapp.models import Invitation, Membership, Notification, Organization, Wallet, utcnow
from creditapp.notifications.email import compose


def snapshot() -> dict:
    """Every row of the teams' tables and the outbox: what a refusal must leave untouched."""
    with db.engine.connect() as conn:
        return {
            table.name: sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
            for table in (
                Organization.__table__,
                Membership.__table__,
                Invitation.__table__,
                Notification.__table__,
                Wallet.__table__,
            )
        }


@pytest.fixture
def org(make_user):
    """An organization with an owner, an admin and a member (joined through invitations)."""
    owner = make_user("owner@example.com")
    admin = make_user("admin@example.com")
    member = make_user("member@example.com")
    org_id = teams.create_organization(owner, "Acme")
    for user_id, email, role in (
        (admin, "admin@example.com", "admin"),
        (member, "member@example.com", "member"),
    ):
        _, token = teams.invite(org_id, owner, email, role)
        teams.accept(token, user_id)
    return {"id": org_id, "owner": owner, "admin": admin, "member": member}


def roles(org_id: int) -> dict[str, str]:
    return {m.email: m.role for m in teams.members_of(org_id)}


def refused(error: type[Exception], action, *args) -> None:
    before = snapshot()
    with pytest.raises(error):
        action(*args)
    db.session.remove()
    assert snapshot() == before


def test_creating_an_organization_makes_an_empty_wallet_and_its_creator_the_owner(make_user):
    user_id = make_user("founder@example.com")

    org_id = teams.create_organization(user_id, "  Acme  ")

    org = teams.organization_for(org_id, user_id)
    assert (org.name, org.role) == ("Acme", "owner")
    assert ledger.balance(user_id).credits == 500  # the personal wallet is not the organization's
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(Wallet.balance).where(Wallet.id == org.wallet_id)).scalar_one() == 0
    assert ledger.audit() == []


def test_an_organization_needs_a_name(make_user):
    refused(teams.Refused, teams.create_organization, make_user(), "   ")


def test_an_invitation_is_emailed_with_a_link_that_makes_the_invitee_a_member(app, make_user):
    owner = make_user("owner@example.com", name="Olive Owner")
    guest = make_user("guest@example.com")
    org_id = teams.create_organization(owner, "Acme")

    _, token = teams.invite(org_id, owner, "Guest@Example.com", "admin")

    with db.engine.connect() as conn:
        mail = conn.execute(sa.select(Notification).where(Notification.kind == "invitation")).one()
    assert mail.to_address == "guest@example.com"
    email = compose(mail.kind, mail.payload, "https://credits.example")
    assert f"https://credits.example/invitations/{token}" in email.text
    assert "Olive Owner invited you to join Acme as an admin" in email.text
    with db.engine.connect() as conn:
        stored = conn.execute(sa.select(Invitation.token_hash)).scalar_one()
    assert token not in stored

    assert teams.accept(token, guest) == org_id
    assert roles(org_id)["guest@example.com"] == "admin"


def test_members_cannot_invite_and_admins_cannot_invite_owners(org, make_user):
    refused(teams.Forbidden, teams.invite, org["id"], org["member"], "new@example.com", "member")
    refused(teams.Forbidden, teams.invite, org["id"], org["admin"], "new@example.com", "owner")
    teams.invite(org["id"], org["admin"], "new@example.com", "admin")


def test_a_non_member_cannot_invite(org, make_user):
    outsider = make_user("outsider@example.com")
    refused(teams.NotFound, teams.invite, org["id"], outsider, "new@example.com", "member")


def test_an_invitation_works_once_for_the_invited_account_only(org, make_user):
    invited = make_user("invited@example.com")
    other = make_user("other@example.com")
    _, token = teams.invite(org["id"], org["owner"], "invited@example.com", "member")

    with pytest.raises(teams.AcceptRefused) as wrong:
        teams.accept(token, other)
    assert wrong.value.reason == "wrong_account"
    assert "other@example.com" not in roles(org["id"])

    teams.accept(token, invited)
    before = snapshot()
    with pytest.raises(teams.AcceptRefused) as again:
        teams.accept(token, invited)
    assert again.value.reason == "used"
    assert snapshot() == before


def test_an_expired_invitation_is_refused(org, make_user):
    invited = make_user("late@example.com")
    invitation_id, token = teams.invite(org["id"], org["owner"], "late@example.com", "member")
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(Invitation)
            .where(Invitation.id == invitation_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    before = snapshot()
    with pytest.raises(teams.AcceptRefused) as refusal:
        teams.accept(token, invited)
    assert refusal.value.reason == "expired"
    assert snapshot() == before


def test_a_revoked_invitation_is_refused(org, make_user):
    invited = make_user("revoked@example.com")
    invitation_id, token = teams.invite(org["id"], org["owner"], "revoked@example.com", "member")
    refused(teams.Forbidden, teams.revoke_invitation, org["id"], org["member"], invitation_id)

    teams.revoke_invitation(org["id"], org["admin"], invitation_id)

    with pytest.raises(teams.AcceptRefused) as refusal:
        teams.accept(token, invited)
    assert refusal.value.reason == "revoked"
    assert "revoked@example.com" not in roles(org["id"])


def test_an_unknown_token_is_refused(make_user):
    with pytest.raises(teams.AcceptRefused) as refusal:
        teams.accept("no-such-token", make_user())
    assert refusal.value.reason == "unknown"


def test_an_invitation_expires_after_seven_days(org):
    invitation_id, token = teams.invite(org["id"], org["owner"], "week@example.com", "member")
    invitation = teams.invitation_for_token(token)
    with db.engine.connect() as conn:
        created = conn.execute(
            sa.select(Invitation.created_at).where(Invitation.id == invitation_id)
        ).scalar_one()
    assert invitation.expires_at - created == timedelta(days=7)


def test_only_owners_make_owners(org):
    refused(teams.Forbidden, teams.change_role, org["id"], org["admin"], org["member"], "owner")
    refused(teams.Forbidden, teams.change_role, org["id"], org["member"], org["member"], "admin")

    teams.change_role(org["id"], org["admin"], org["member"], "admin")
    teams.change_role(org["id"], org["owner"], org["member"], "owner")

    assert roles(org["id"])["member@example.com"] == "owner"


def test_an_admin_cannot_demote_an_owner(org):
    refused(teams.Forbidden, teams.change_role, org["id"], org["admin"], org["owner"], "member")


def test_the_last_owner_cannot_be_demoted_removed_or_leave(org):
    refused(teams.Refused, teams.change_role, org["id"], org["owner"], org["owner"], "admin")
    refused(teams.Refused, teams.remove_member, org["id"], org["owner"], org["owner"])
    refused(teams.Refused, teams.leave, org["id"], org["owner"])

    teams.change_role(org["id"], org["owner"], org["admin"], "owner")
    teams.leave(org["id"], org["owner"])

    assert "owner@example.com" not in roles(org["id"])


def test_an_unknown_role_is_refused(org):
    refused(teams.Refused, teams.change_role, org["id"], org["owner"], org["member"], "superuser")
    refused(teams.Refused, teams.invite, org["id"], org["owner"], "x@example.com", "superuser")


def test_owners_and_admins_set_a_members_monthly_limit(org):
    teams.set_member_limit(org["id"], org["admin"], org["member"], 250)
    assert {m.email: m.monthly_credit_limit for m in teams.members_of(org["id"])}["member@example.com"] == 250

    refused(teams.Forbidden, teams.set_member_limit, org["id"], org["member"], org["member"], 1000)
    refused(teams.Forbidden, teams.set_member_limit, org["id"], org["admin"], org["owner"], 10)
    refused(teams.Refused, teams.set_member_limit, org["id"], org["owner"], org["member"], -1)

    teams.set_member_limit(org["id"], org["owner"], org["member"], None)
    assert {m.email: m.monthly_credit_limit for m in teams.members_of(org["id"])}[
        "member@example.com"
    ] is None


def test_removing_a_member_takes_their_access_at_once(org):
    refused(teams.Forbidden, teams.remove_member, org["id"], org["member"], org["admin"])

    teams.remove_member(org["id"], org["admin"], org["member"])

    assert teams.member_role(org["id"], org["member"]) is None
    with pytest.raises(teams.NotFound):
        teams.organization_for(org["id"], org["member"])


def test_a_removed_admins_pending_invitations_die_with_their_membership(org, make_user):
    alt = make_user("admins.other.address@example.com")
    _, token = teams.invite(org["id"], org["admin"], "admins.other.address@example.com", "admin")
    _, kept_token = teams.invite(org["id"], org["owner"], "kept@example.com", "member")

    teams.remove_member(org["id"], org["owner"], org["admin"])

    with pytest.raises(teams.AcceptRefused) as refusal:
        teams.accept(token, alt)  # no way back in through an invitation sent before the removal
    assert refusal.value.reason == "revoked"
    assert teams.member_role(org["id"], alt) is None
    assert teams.invitation_for_token(kept_token).revoked_at is None  # the owner's still stands


def test_a_demoted_owners_owner_invitations_and_a_demoted_admins_all_are_withdrawn(org, make_user):
    teams.change_role(org["id"], org["owner"], org["admin"], "owner")
    _, as_owner = teams.invite(org["id"], org["admin"], "future.owner@example.com", "owner")
    _, as_admin = teams.invite(org["id"], org["admin"], "future.admin@example.com", "admin")

    teams.change_role(org["id"], org["owner"], org["admin"], "admin")

    assert teams.invitation_for_token(as_owner).revoked_at is not None
    assert teams.invitation_for_token(as_admin).revoked_at is None  # an admin may still send that one
    teams.change_role(org["id"], org["owner"], org["admin"], "member")
    assert teams.invitation_for_token(as_admin).revoked_at is not None
    with pytest.raises(teams.AcceptRefused) as refusal:
        teams.accept(as_admin, make_user("future.admin@example.com"))
    assert refusal.value.reason == "revoked"


def test_anyone_but_the_last_owner_can_leave(org):
    teams.leave(org["id"], org["member"])
    teams.leave(org["id"], org["admin"])

    assert list(roles(org["id"])) == ["owner@example.com"]
    refused(teams.NotFound, teams.leave, org["id"], org["member"])


def test_a_non_member_sees_no_organization(org, make_user):
    outsider = make_user("outsider@example.com")

    with pytest.raises(teams.NotFound):
        teams.organization_for(org["id"], outsider)
    assert teams.organizations_of(outsider) == []
    refused(teams.NotFound, teams.change_role, org["id"], outsider, org["member"], "admin")
    refused(teams.NotFound, teams.remove_member, org["id"], outsider, org["member"])
