"""Changing an organization's members: roles, monthly limits, removal, leaving.

Each action is one transaction that locks the organization's row first, so the owners
counted for "the last owner" cannot change before it commits. A member who goes (removed,
or leaving) takes the organization's API keys they made with them: they are revoked in the
same transaction, so no request authenticates with them after it commits, and coming back
later does not bring them back. Their invitations not yet used go too (an invitation stands for
its sender's right to invite): all of them when they go or stop managing the organization, its
owner invitations when they stop being an owner. Otherwise someone removed could come back
through an invitation they sent before, to another address of theirs.
"""

from __future__ import annotations

import sqlalchemy as sa

from creditapp.models import ApiKey, Invitation, Membership, Organization, utcnow
from creditapp.platform.transactions import write
from creditapp.teams.errors import Forbidden, NotFound, Refused
from creditapp.teams.organizations import (
    MANAGERS,
    check_role,
    lock_organization,
    owner_count,
    require_manager,
    role_in,
)

memberships = Membership.__table__
api_keys = ApiKey.__table__
invitations = Invitation.__table__
organizations = Organization.__table__


def _member(org_id: int, user_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(memberships.c.org_id == org_id, memberships.c.user_id == user_id)


def _withdraw_invitations(session: sa.orm.Session, org_id: int, user_id: int, role: str | None) -> None:
    """Revoke the pending invitations this person sent that their role (`role`; None: gone)
    no longer lets them send: every one without owner or admin, an owner's without owner."""
    if role == "owner":
        return
    sent = sa.and_(
        invitations.c.org_id == org_id,
        invitations.c.invited_by == user_id,
        invitations.c.accepted_at.is_(None),
        invitations.c.revoked_at.is_(None),
    )
    if role in MANAGERS:
        sent = sa.and_(sent, invitations.c.role == "owner")
    session.execute(sa.update(invitations).where(sent).values(revoked_at=utcnow()))


def _drop_member(session: sa.orm.Session, org_id: int, user_id: int) -> None:
    """Delete the membership, revoke the organization's keys this person made and the
    invitations they sent."""
    session.execute(sa.delete(memberships).where(_member(org_id, user_id)))
    _withdraw_invitations(session, org_id, user_id, None)
    wallet_id = sa.select(organizations.c.wallet_id).where(organizations.c.id == org_id).scalar_subquery()
    session.execute(
        sa.update(api_keys)
        .where(
            api_keys.c.user_id == user_id,
            api_keys.c.wallet_id == wallet_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )


def _target_role(session: sa.orm.Session, org_id: int, user_id: int) -> str:
    role = role_in(session, org_id, user_id)
    if role is None:
        raise Refused("That person is not a member of this organization.")
    return role


def change_role(org_id: int, by_user_id: int, user_id: int, role: str) -> None:
    """Give a member another role: owners and admins may; only owners make or unmake owners;
    the last owner cannot be demoted."""
    check_role(role)
    with write() as session:
        lock_organization(session, org_id)
        acting = require_manager(session, org_id, by_user_id)
        current = _target_role(session, org_id, user_id)
        if "owner" in (role, current) and acting != "owner":
            raise Forbidden("only owners make or unmake owners")
        if current == "owner" and role != "owner" and owner_count(session, org_id) == 1:
            raise Refused("The last owner cannot be demoted: make someone else an owner first.")
        session.execute(sa.update(memberships).where(_member(org_id, user_id)).values(role=role))
        _withdraw_invitations(session, org_id, user_id, role)


def set_member_limit(org_id: int, by_user_id: int, user_id: int, limit: int | None) -> None:
    """Set a member's monthly credit limit (None: no limit); owners and admins may."""
    if limit is not None and limit < 0:
        raise Refused("A limit is a whole number of credits, 0 or more.")
    with write() as session:
        lock_organization(session, org_id)
        acting = require_manager(session, org_id, by_user_id)
        current = _target_role(session, org_id, user_id)
        if current == "owner" and acting != "owner":
            raise Forbidden("only owners set an owner's limit")
        session.execute(
            sa.update(memberships).where(_member(org_id, user_id)).values(monthly_credit_limit=limit)
        )


def remove_member(org_id: int, by_user_id: int, user_id: int) -> None:
    """Remove a member at once: owners and admins may; only owners remove owners; never the last owner."""
    with write() as session:
        lock_organization(session, org_id)
        acting = require_manager(session, org_id, by_user_id)
        current = _target_role(session, org_id, user_id)
        if current == "owner" and acting != "owner":
            raise Forbidden("only owners remove owners")
        if current == "owner" and owner_count(session, org_id) == 1:
            raise Refused("The last owner cannot be removed.")
        _drop_member(session, org_id, user_id)


def leave(org_id: int, user_id: int) -> None:
    """Leave the organization: anyone may, except its last owner."""
    with write() as session:
        lock_organization(session, org_id)
        role = role_in(session, org_id, user_id)
        if role is None:
            raise NotFound("no such organization")
        if role == "owner" and owner_count(session, org_id) == 1:
            raise Refused("The last owner cannot leave: make someone else an owner first.")
        _drop_member(session, org_id, user_id)
