"""The organization pages: create one, its members (invite, roles, limits, removal, leaving),
and the invitation link.

Anything of an organization is a 404 to someone not in it (`teams.NotFound`); a member
whose role may see but not act gets a 403 (`teams.Forbidden`). A refused rule (the last
owner, a bad limit) re-renders the members page with the reason; nothing is written.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp import teams
from creditapp.models import MEMBERSHIP_ROLES
from creditapp.teams.organizations import MANAGERS

bp = Blueprint("teams", __name__)

LIMIT_MAX = 2**63 - 1  # memberships.monthly_credit_limit is a bigint

# Why an invitation link cannot be used, in words (`AcceptRefused.reason`).
REFUSALS = {
    "unknown": "This invitation link is not valid. Ask for a new one.",
    "wrong_account": "This invitation is for another e-mail address. Sign in with the Google account "
    "it was sent to.",
    "expired": "This invitation has expired. Ask for a new one.",
    "revoked": "This invitation was withdrawn.",
    "used": "This invitation was used already.",
    "already_member": "You are already a member of this organization.",
}


def _organization(org_id: int) -> teams.OrganizationView:
    """The organization as the signed-in person sees it; 404 unless they are in it."""
    try:
        return teams.organization_for(org_id, current_user.id)
    except teams.NotFound:
        abort(404)


def _members_page(org_id: int, status: int = 200, error: str | None = None, form: dict | None = None):
    org = _organization(org_id)
    manages = org.role in MANAGERS
    body = render_template(
        "teams/members.html",
        org=org,
        members=teams.members_of(org_id),
        invitations=teams.invitations_of(org_id) if manages else [],
        manages=manages,
        roles=MEMBERSHIP_ROLES if org.role == "owner" else ("admin", "member"),
        error=error,
        form=form or {},
    )
    return body, status


def _act(org_id: int, action, *args, form: dict | None = None):
    """Run a team action for the signed-in person; 303 back to the members page, or why not."""
    _organization(org_id)  # a non-member gets a 404 before anything else
    try:
        action(*args)
    except teams.NotFound:
        abort(404)
    except teams.Forbidden:
        abort(403)
    except teams.Refused as exc:
        return _members_page(org_id, 409, str(exc), form)
    return redirect(url_for("teams.members", org_id=org_id), 303)


@bp.get("/orgs")
@login_required
def index():
    """The person's organizations, with their balances and links to spend from each."""
    return render_template("teams/index.html", organizations=teams.organizations_of(current_user.id))


@bp.get("/orgs/new")
@login_required
def new():
    """The form that creates an organization."""
    return render_template("teams/new.html", error=None, name="")


@bp.post("/orgs/new")
@login_required
def create():
    """Create an organization (the signed-in person is its owner), then show its members."""
    name = request.form.get("name", "")
    try:
        org_id = teams.create_organization(current_user.id, name)
    except teams.Refused as exc:
        return render_template("teams/new.html", error=str(exc), name=name), 400
    return redirect(url_for("teams.members", org_id=org_id), 303)


@bp.get("/orgs/<int:org_id>/members")
@login_required
def members(org_id: int):
    """The members, their roles and limits; owners and admins also see the forms that change them."""
    return _members_page(org_id)


@bp.post("/orgs/<int:org_id>/invitations")
@login_required
def invite(org_id: int):
    """Invite an e-mail address with a role (owners and admins)."""
    email, role = request.form.get("email", ""), request.form.get("role", "member")
    return _act(
        org_id, teams.invite, org_id, current_user.id, email, role, form={"email": email, "role": role}
    )


@bp.post("/orgs/<int:org_id>/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(org_id: int, invitation_id: int):
    """Withdraw an invitation not yet used (owners and admins)."""
    return _act(org_id, teams.revoke_invitation, org_id, current_user.id, invitation_id)


@bp.post("/orgs/<int:org_id>/members/<int:user_id>/role")
@login_required
def change_role(org_id: int, user_id: int):
    """Give a member another role (owners and admins; only owners make owners)."""
    return _act(org_id, teams.change_role, org_id, current_user.id, user_id, request.form.get("role", ""))


@bp.post("/orgs/<int:org_id>/members/<int:user_id>/limit")
@login_required
def set_limit(org_id: int, user_id: int):
    """Set a member's monthly credit limit; empty means no limit (owners and admins)."""
    raw = request.form.get("limit", "").strip().replace(",", "")
    if raw and not (raw.isascii() and raw.isdigit() and int(raw) <= LIMIT_MAX):
        if _organization(org_id).role not in MANAGERS:
            abort(403)
        return _members_page(org_id, 400, "A limit is a whole number of credits, 0 or more.")
    limit = int(raw) if raw else None
    return _act(org_id, teams.set_member_limit, org_id, current_user.id, user_id, limit)


@bp.post("/orgs/<int:org_id>/members/<int:user_id>/remove")
@login_required
def remove(org_id: int, user_id: int):
    """Remove a member at once (owners and admins; only owners remove owners)."""
    return _act(org_id, teams.remove_member, org_id, current_user.id, user_id)


@bp.post("/orgs/<int:org_id>/leave")
@login_required
def leave(org_id: int):
    """Leave the organization (not its last owner), then go home."""
    _organization(org_id)
    try:
        teams.leave(org_id, current_user.id)
    except teams.Refused as exc:
        return _members_page(org_id, 409, str(exc))
    return redirect(url_for("account.home"), 303)


@bp.get("/invitations/<token>")
@login_required
def invitation(token: str):
    """The invitation a link names: what it offers and a button to accept, or why it cannot be used."""
    found = teams.invitation_for_token(token)
    reason = _why_not(found)
    if reason is not None:
        return render_template("teams/invitation.html", invitation=found, refusal=REFUSALS[reason]), (
            404 if reason == "unknown" else 410 if reason in ("expired", "revoked", "used") else 403
        )
    return render_template("teams/invitation.html", invitation=found, refusal=None, token=token)


@bp.post("/invitations/<token>")
@login_required
def accept(token: str):
    """Accept the invitation as the signed-in person, then show the organization's members."""
    try:
        org_id = teams.accept(token, current_user.id)
    except teams.AcceptRefused as exc:
        found = teams.invitation_for_token(token)
        status = (
            404 if exc.reason == "unknown" else 410 if exc.reason in ("expired", "revoked", "used") else 403
        )
        return render_template(
            "teams/invitation.html", invitation=found, refusal=REFUSALS[exc.reason]
        ), status
    return redirect(url_for("teams.members", org_id=org_id), 303)


def _why_not(found: teams.InvitationView | None) -> str | None:
    """Why the signed-in person cannot accept this invitation (as `accept` decides), or None."""
    if found is None:
        return "unknown"
    if found.revoked_at is not None:
        return "revoked"
    if found.accepted_at is not None:
        return "used"
    if found.expired:
        return "expired"
    if current_user.email.lower() != found.email:
        return "wrong_account"
    if teams.member_role(found.org_id, current_user.id) is not None:
        return "already_member"
    return None
