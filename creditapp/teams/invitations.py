"""Invitations by e-mail: a link that works once, for the Google account with that e-mail,
for `INVITATION_DAYS` days, unless revoked.

The link carries a random token; only its SHA-256 is stored (`invitations.token_hash`).
The e-mail goes through the outbox in the invitation's own transaction. Its kind
(`invitation`) is composed by `notifications.email`, which sits below teams and cannot
look an organization up: the payload carries everything it says (organization, inviter,
role, the link's path, the expiry). The row's `user_id` is the inviter's: the person the
e-mail is sent on behalf of (the invitee may have no account yet).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from creditapp.ledger.outbox import EMAIL, write_email
from creditapp.models import Invitation, Membership, User, utcnow
from creditapp.platform.transactions import read, stage, write
from creditapp.teams.errors import Forbidden, NotFound, Refused
from creditapp.teams.organizations import (
    check_role,
    lock_organization,
    organizations,
    require_manager,
    role_in,
)

INVITATION_DAYS = 7
INVITATION_EMAIL = "invitation"

invitations = Invitation.__table__
memberships = Membership.__table__
users = User.__table__


class AcceptRefused(Refused):
    """An invitation link that cannot be used: `reason` says why (the page explains it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # unknown | wrong_account | expired | revoked | used | already_member


@dataclass(frozen=True)
class InvitationView:
    """An invitation as the members page and the accept page show it."""

    id: int
    org_id: int
    org_name: str
    email: str
    role: str
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None

    @property
    def expired(self) -> bool:
        """Whether the link's time has run out."""
        return _aware(self.expires_at) <= utcnow()


def hash_token(token: str) -> str:
    """SHA-256 hex of the link's token (random and long: no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def invite(org_id: int, by_user_id: int, email: str, role: str) -> tuple[int, str]:
    """Invite an e-mail address with a role: owners and admins may; only owners invite owners.

    Returns (invitation id, token); the token is in the e-mail's link and nowhere else in clear
    but the outbox row that sends it.
    """
    check_role(role)
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Refused("Enter an e-mail address.")
    token = secrets.token_urlsafe(32)
    with write() as session:
        org_name = lock_organization(session, org_id)
        acting = require_manager(session, org_id, by_user_id)
        if role == "owner" and acting != "owner":
            raise Forbidden("only owners invite owners")
        already = session.execute(
            sa.select(memberships.c.user_id)
            .join(users, users.c.id == memberships.c.user_id)
            .where(memberships.c.org_id == org_id, users.c.email == email)
        ).first()
        if already is not None:
            raise Refused(f"{email} is already a member.")
        now = utcnow()
        expires_at = now + timedelta(days=INVITATION_DAYS)
        invitation_id = session.execute(
            sa.insert(invitations)
            .values(
                org_id=org_id,
                email=email,
                role=role,
                token_hash=hash_token(token),
                expires_at=expires_at,
                invited_by=by_user_id,
                created_at=now,
            )
            .returning(invitations.c.id)
        ).scalar_one()
        inviter = session.execute(
            sa.select(users.c.name, users.c.email).where(users.c.id == by_user_id)
        ).one()
        email_id = write_email(
            session,
            INVITATION_EMAIL,
            by_user_id,
            email,
            f"invitation:{invitation_id}",
            {
                "organization": org_name,
                "inviter": inviter.name or inviter.email,
                "role": role,
                "path": f"/invitations/{token}",
                "expires_at": expires_at.isoformat(),
            },
        )
        if email_id is not None:
            stage(session, [(EMAIL, email_id)])
    return invitation_id, token


def _view_columns() -> list[sa.ColumnElement]:
    return [
        invitations.c.id,
        invitations.c.org_id,
        organizations.c.name,
        invitations.c.email,
        invitations.c.role,
        invitations.c.expires_at,
        invitations.c.accepted_at,
        invitations.c.revoked_at,
    ]


def invitation_for_token(token: str) -> InvitationView | None:
    """The invitation a link's token names, or None."""
    with read() as session:
        row = session.execute(
            sa.select(*_view_columns())
            .join(organizations, organizations.c.id == invitations.c.org_id)
            .where(invitations.c.token_hash == hash_token(token))
        ).one_or_none()
    return InvitationView(*row) if row is not None else None


def invitations_of(org_id: int) -> list[InvitationView]:
    """The organization's invitations not yet accepted nor revoked, newest first (expired ones too)."""
    with read() as session:
        rows = session.execute(
            sa.select(*_view_columns())
            .join(organizations, organizations.c.id == invitations.c.org_id)
            .where(
                invitations.c.org_id == org_id,
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
            )
            .order_by(invitations.c.created_at.desc(), invitations.c.id.desc())
        ).all()
    return [InvitationView(*row) for row in rows]


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; every moment stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def accept(token: str, user_id: int) -> int:
    """Accept an invitation as this signed-in person: once, for the account with the invited
    e-mail, before it expires, unless revoked. Returns the organization's id."""
    with write() as session:
        found = session.execute(
            sa.select(invitations.c.id, invitations.c.org_id).where(
                invitations.c.token_hash == hash_token(token)
            )
        ).one_or_none()
        if found is None:
            raise AcceptRefused("unknown")
        # The organization's row first (every change of its members takes it), then the invitation's.
        lock_organization(session, found.org_id)
        row = session.execute(
            sa.select(invitations).where(invitations.c.id == found.id).with_for_update()
        ).one()
        email = session.execute(sa.select(users.c.email).where(users.c.id == user_id)).scalar_one()
        now = utcnow()
        if row.revoked_at is not None:
            raise AcceptRefused("revoked")
        if row.accepted_at is not None:
            raise AcceptRefused("used")
        if _aware(row.expires_at) <= now:
            raise AcceptRefused("expired")
        if email.lower() != row.email:
            raise AcceptRefused("wrong_account")
        if role_in(session, row.org_id, user_id) is not None:
            raise AcceptRefused("already_member")
        session.execute(sa.update(invitations).where(invitations.c.id == row.id).values(accepted_at=now))
        session.execute(
            sa.insert(memberships).values(org_id=row.org_id, user_id=user_id, role=row.role, created_at=now)
        )
    return row.org_id


def revoke_invitation(org_id: int, by_user_id: int, invitation_id: int) -> None:
    """Revoke an invitation not yet used: owners and admins may (an owner's invitation: owners only)."""
    with write() as session:
        lock_organization(session, org_id)
        acting = require_manager(session, org_id, by_user_id)
        row = session.execute(
            sa.select(invitations.c.role, invitations.c.accepted_at, invitations.c.revoked_at)
            .where(invitations.c.id == invitation_id, invitations.c.org_id == org_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound("no such invitation")
        if row.role == "owner" and acting != "owner":
            raise Forbidden("only owners revoke an owner's invitation")
        if row.accepted_at is not None:
            raise Refused("That invitation was accepted already.")
        if row.revoked_at is None:
            session.execute(
                sa.update(invitations).where(invitations.c.id == invitation_id).values(revoked_at=utcnow())
            )
