"""Creating an organization and looking up who is in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from creditapp.models import MEMBERSHIP_ROLES, Membership, Organization, User, Wallet, spendable, utcnow
from creditapp.platform.transactions import read, write
from creditapp.teams.errors import Forbidden, NotFound, Refused

organizations = Organization.__table__
memberships = Membership.__table__
users = User.__table__
wallets = Wallet.__table__

# Roles that manage the organization: invite, change roles, set limits, remove members.
MANAGERS = ("owner", "admin")
NAME_MAX = 255


@dataclass(frozen=True)
class OrganizationView:
    """An organization as one of its members sees it."""

    id: int
    name: str
    wallet_id: int
    role: str
    credits: int  # what may be spent from its wallet now


@dataclass(frozen=True)
class MemberView:
    """One member, as the members page lists them."""

    user_id: int
    email: str
    name: str
    role: str
    monthly_credit_limit: int | None
    created_at: datetime


def create_organization(user_id: int, name: str) -> int:
    """Create an organization, its empty wallet and its owner's membership, in one transaction."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise Refused(f"The name must be 1 to {NAME_MAX} characters.")
    with write() as session:
        now = utcnow()
        # A new wallet holds nothing: no balance moves, so the ledger has nothing to record.
        wallet_id = session.execute(
            sa.insert(wallets).values(balance=0, owed=0, created_at=now).returning(wallets.c.id)
        ).scalar_one()
        org_id = session.execute(
            sa.insert(organizations)
            .values(name=name, wallet_id=wallet_id, created_by=user_id, created_at=now)
            .returning(organizations.c.id)
        ).scalar_one()
        session.execute(
            sa.insert(memberships).values(org_id=org_id, user_id=user_id, role="owner", created_at=now)
        )
    return org_id


def _as_seen_by(user_id: int) -> sa.Select:
    """The organizations this person is in, as OrganizationView's columns: id, name, wallet,
    their role and what the wallet may spend now."""
    return (
        sa.select(
            organizations.c.id,
            organizations.c.name,
            organizations.c.wallet_id,
            memberships.c.role,
            spendable(organizations.c.wallet_id, utcnow()),
        )
        .join(memberships, memberships.c.org_id == organizations.c.id)
        .where(memberships.c.user_id == user_id)
    )


def organization_for(org_id: int, user_id: int) -> OrganizationView:
    """The organization as this person sees it; NotFound unless they are a member."""
    with read() as session:
        row = session.execute(_as_seen_by(user_id).where(organizations.c.id == org_id)).one_or_none()
    if row is None:
        raise NotFound("no such organization")
    return OrganizationView(*row)


def organization_of_wallet(wallet_id: int, user_id: int) -> OrganizationView | None:
    """The organization whose wallet this is, as this person sees it; None when it is no
    organization's wallet (a person's own) or they are not in it."""
    with read() as session:
        row = session.execute(
            _as_seen_by(user_id).where(organizations.c.wallet_id == wallet_id)
        ).one_or_none()
    return OrganizationView(*row) if row is not None else None


def organizations_of(user_id: int) -> list[OrganizationView]:
    """The organizations this person is in, by name."""
    with read() as session:
        rows = session.execute(_as_seen_by(user_id).order_by(organizations.c.name, organizations.c.id)).all()
    return [OrganizationView(*row) for row in rows]


def members_of(org_id: int) -> list[MemberView]:
    """Every member of the organization: owners first, then admins, then members, by e-mail."""
    rank = sa.case({role: i for i, role in enumerate(MEMBERSHIP_ROLES)}, value=memberships.c.role)
    with read() as session:
        rows = session.execute(
            sa.select(
                users.c.id,
                users.c.email,
                users.c.name,
                memberships.c.role,
                memberships.c.monthly_credit_limit,
                memberships.c.created_at,
            )
            .join(users, users.c.id == memberships.c.user_id)
            .where(memberships.c.org_id == org_id)
            .order_by(rank, users.c.email)
        ).all()
    return [MemberView(*row) for row in rows]


def member_role(org_id: int, user_id: int) -> str | None:
    """This person's role in the organization, or None when they are not in it."""
    with read() as session:
        return session.execute(
            sa.select(memberships.c.role).where(
                memberships.c.org_id == org_id, memberships.c.user_id == user_id
            )
        ).scalar_one_or_none()


# --- inside a transaction of a team action -------------------------------------------------


def lock_organization(session: sa.orm.Session, org_id: int) -> str:
    """Lock the organization's row (every change of its members takes it first); its name."""
    name = session.execute(
        sa.select(organizations.c.name).where(organizations.c.id == org_id).with_for_update()
    ).scalar_one_or_none()
    if name is None:
        raise NotFound("no such organization")
    return name


def role_in(session: sa.orm.Session, org_id: int, user_id: int) -> str | None:
    """Inside the caller's transaction (after `lock_organization`): this person's role, or None."""
    return session.execute(
        sa.select(memberships.c.role).where(memberships.c.org_id == org_id, memberships.c.user_id == user_id)
    ).scalar_one_or_none()


def require_manager(session: sa.orm.Session, org_id: int, user_id: int) -> str:
    """The acting person's role if they may manage the organization: NotFound for a non-member,
    Forbidden for a member without the role."""
    role = role_in(session, org_id, user_id)
    if role is None:
        raise NotFound("no such organization")
    if role not in MANAGERS:
        raise Forbidden("only owners and admins may do this")
    return role


def owner_count(session: sa.orm.Session, org_id: int) -> int:
    """How many owners the organization has (under its row lock)."""
    return session.execute(
        sa.select(sa.func.count())
        .select_from(memberships)
        .where(memberships.c.org_id == org_id, memberships.c.role == "owner")
    ).scalar_one()


def check_role(role: str) -> None:
    """Refuse a role that is not owner, admin or member."""
    if role not in MEMBERSHIP_ROLES:
        raise Refused(f"unknown role {role!r}")


def role_by_wallet(wallet_id: int, user_id: int) -> str | None:
    """This person's role in the organization whose wallet this is; None when they are not in
    it, or when it is no organization's wallet (an API call on a key's wallet asks this)."""
    with read() as session:
        return session.execute(
            sa.select(memberships.c.role)
            .join(organizations, organizations.c.id == memberships.c.org_id)
            .where(organizations.c.wallet_id == wallet_id, memberships.c.user_id == user_id)
        ).scalar_one_or_none()
