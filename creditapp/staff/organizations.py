"""Finding an organization and gathering what its console page shows, read-only.

Staff see an organization whole, whatever their own memberships: its wallet, lots and
ledger, its members and what each spent this month, pending invitations, purchases, API
keys, top-up settings and recent jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.history import entries as history
from creditapp.history.scope import Scope
from creditapp.models import (
    ApiKey,
    AutoRechargeSettings,
    CreditPurchase,
    CreditSpend,
    FeatureJob,
    Membership,
    Organization,
    User,
    utcnow,
)
from creditapp.platform.clock import month_start
from creditapp.platform.transactions import read

SEARCH_LIMIT = 50
RECENT = 50


@dataclass(frozen=True)
class Found:
    """One organization a search found."""

    id: int
    name: str
    matched: str  # what matched, in words


def search(query: str) -> list[Found]:
    """Organizations whose name contains `query`, whose id it is, or with a member whose e-mail
    contains it (a person's e-mail finds their organizations)."""
    query = query.strip()
    if not query:
        return []
    like = f"%{query.lower().replace('%', '').replace('_', '')}%"
    found: dict[int, Found] = {}
    org = sa.select(Organization.id, Organization.name)
    with read() as session:

        def add(select: sa.Select, matched: str) -> None:
            ordered = select.order_by(Organization.name, Organization.id).limit(SEARCH_LIMIT)
            for row in session.execute(ordered):
                found.setdefault(row.id, Found(row.id, row.name, matched))

        if query.isdigit():
            add(org.where(Organization.id == int(query)), "organization id")
        add(org.where(sa.func.lower(Organization.name).like(like)), "name")
        add(
            org.join(Membership, Membership.org_id == Organization.id)
            .join(User, User.id == Membership.user_id)
            .where(sa.func.lower(User.email).like(like))
            .distinct(),
            "a member's e-mail",
        )
    return list(found.values())[:SEARCH_LIMIT]


@dataclass(frozen=True)
class Member:
    """A member as staff see them: role, monthly limit and what they spent from it this month."""

    user_id: int
    email: str
    name: str
    role: str
    monthly_credit_limit: int | None
    spent_this_month: int
    joined_at: datetime


@dataclass(frozen=True)
class OrganizationPage:
    """Everything the organization's console page shows."""

    org: Any  # the Organization row (detached)
    creator_email: str
    balance: ledger.Balance
    lots: list[ledger.LotView]
    ledger: history.Page  # every line of its wallet, with the running balance
    who: dict[int, str]  # the e-mail each line of `ledger` is recorded under, by user id
    members: list[Member]
    invitations: list[teams.InvitationView]
    purchases: list[Any]
    keys: list[Any]  # (ApiKey, creator's e-mail)
    topups: list[Any]  # (AutoRechargeSettings, the e-mail of the person they belong to)
    jobs: list[Any]  # (FeatureJob, credits, spend status, the member's e-mail)


def find(org_id: int) -> Any | None:
    """The organization row (detached), or None."""
    with read() as session:
        org = session.get(Organization, org_id)
        if org is not None:
            session.expunge(org)
    return org


def organization(org_id: int, before: str | None = None) -> OrganizationPage | None:
    """The organization page's data (its ledger older than the `before` cursor), or None when
    there is no such organization. Raises history.BadCursor."""
    org = find(org_id)
    if org is None:
        return None
    wallet_id = org.wallet_id
    balance = ledger.wallet_balance(wallet_id)
    # History's page of the wallet, every line of it (as its owners see it, purchases not
    # completed too): the running balance and its cursor are History's.
    lines = history.page(
        org.created_by, before=before, show_all=True, balance=balance.credits, scope=Scope(wallet_id)
    )
    with read() as session:
        creator_email = session.execute(sa.select(User.email).where(User.id == org.created_by)).scalar_one()
        purchases = (
            session.execute(
                sa.select(CreditPurchase)
                .where(CreditPurchase.wallet_id == wallet_id)
                .order_by(CreditPurchase.id.desc())
                .limit(RECENT)
            )
            .scalars()
            .all()
        )
        keys = session.execute(
            sa.select(ApiKey, User.email)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.wallet_id == wallet_id)
            .order_by(ApiKey.created_at.desc())
        ).all()
        topups = session.execute(
            sa.select(AutoRechargeSettings, User.email)
            .join(User, User.id == AutoRechargeSettings.user_id)
            .where(AutoRechargeSettings.wallet_id == wallet_id)
        ).all()
        jobs = session.execute(
            sa.select(FeatureJob, CreditSpend.credits_spent, CreditSpend.status.label("spend"), User.email)
            .join(CreditSpend, CreditSpend.id == FeatureJob.spend_id)
            .join(User, User.id == FeatureJob.user_id)
            .where(CreditSpend.wallet_id == wallet_id)
            .order_by(FeatureJob.created_at.desc())
            .limit(RECENT)
        ).all()
        for row in (*purchases, *(key[0] for key in keys), *(t[0] for t in topups), *(j[0] for j in jobs)):
            session.expunge(row)
    return OrganizationPage(
        org=org,
        creator_email=creator_email,
        balance=balance,
        lots=ledger.wallet_lots(wallet_id),
        ledger=lines,
        who=_emails({entry.user_id for entry in lines.entries}),
        members=members(org_id, wallet_id),
        invitations=teams.invitations_of(org_id),
        purchases=list(purchases),
        keys=list(keys),
        topups=list(topups),
        jobs=list(jobs),
    )


def _emails(user_ids: set[int | None]) -> dict[int, str]:
    """The e-mail of each of these users, in one query."""
    if not user_ids - {None}:
        return {}
    with read() as session:
        rows = session.execute(sa.select(User.id, User.email).where(User.id.in_(user_ids - {None}))).all()
    return {row.id: row.email for row in rows}


def members(org_id: int, wallet_id: int) -> list[Member]:
    """The members (owners first), each with what they spent from the wallet this calendar
    month (UTC; held and captured count, as their monthly limit counts)."""
    with read() as session:
        spent = dict(
            session.execute(
                sa.select(CreditSpend.user_id, sa.func.sum(CreditSpend.credits_spent))
                .where(
                    CreditSpend.wallet_id == wallet_id,
                    CreditSpend.status.in_(("held", "captured")),
                    CreditSpend.created_at >= month_start(utcnow()),
                )
                .group_by(CreditSpend.user_id)
            ).all()
        )
    return [
        Member(
            m.user_id,
            m.email,
            m.name,
            m.role,
            m.monthly_credit_limit,
            int(spent.get(m.user_id, 0)),
            m.created_at,
        )
        for m in teams.members_of(org_id)
    ]
