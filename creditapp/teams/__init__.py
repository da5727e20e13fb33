"""Teams (DESIGN §19): organizations, their members' roles and limits, invitations by e-mail.

An organization owns a wallet of its own; its members spend from it, each under their own
monthly credit limit (the check lives in the ledger, atomically with the hold). The rules
of who may do what live here and take plain ids: `organizations` (create, look up, who is
in it), `invitations` (invite, accept, revoke) and `members` (change a role, set a limit,
remove, leave). A refusal raises one of the errors below and writes nothing.

Every change to an organization's members locks the organization's row first
(`SELECT … FOR UPDATE`, `lock_organization`), so two changes of one organization run one
after the other and "the last owner" is counted under that lock. Spending never takes
that lock (it takes wallet, then membership, then key), so the two never wait in a circle.
"""

from flask import Flask

from creditapp.teams.errors import Forbidden, NotFound, Refused, TeamsError
from creditapp.teams.invitations import (
    INVITATION_DAYS,
    AcceptRefused,
    InvitationView,
    accept,
    invitation_for_token,
    invitations_of,
    invite,
    revoke_invitation,
)
from creditapp.teams.members import change_role, leave, remove_member, set_member_limit
from creditapp.teams.organizations import (
    MemberView,
    OrganizationView,
    create_organization,
    member_role,
    members_of,
    organization_for,
    organizations_of,
)

__all__ = [
    "INVITATION_DAYS",
    "AcceptRefused",
    "Forbidden",
    "InvitationView",
    "MemberView",
    "NotFound",
    "OrganizationView",
    "Refused",
    "TeamsError",
    "accept",
    "change_role",
    "create_organization",
    "invitation_for_token",
    "invitations_of",
    "invite",
    "leave",
    "member_role",
    "members_of",
    "organization_for",
    "organizations_of",
    "remove_member",
    "revoke_invitation",
    "set_member_limit",
]


def init_app(app: Flask) -> None:
    """The organization pages."""
    from creditapp.teams import context, views

    app.register_blueprint(views.bp)
    app.add_template_global(context.switcher, "team_switcher")
    app.add_template_global(context.in_context, "in_context")
