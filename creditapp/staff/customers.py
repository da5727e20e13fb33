"""Finding a customer and gathering what their console page shows, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.accounts import api_keys
from creditapp.billing import charges
from creditapp.history import entries as history
from creditapp.models import (
    CreditPurchase,
    CreditSpend,
    FeatureJob,
    Notification,
    RevokedSession,
    User,
    utcnow,
)
from creditapp.platform.transactions import read
from creditapp.topups import settings as topups

SEARCH_LIMIT = 50
# A hold older than this, or a job past its deadline and still open, is "stuck".
STUCK_AFTER = timedelta(hours=1)
STRIPE_DASHBOARD = "https://dashboard.stripe.com"


@dataclass(frozen=True)
class Found:
    """One search result."""

    id: int
    email: str
    name: str
    matched: str  # what matched, in words


def search(query: str) -> list[Found]:
    """Customers whose e-mail or name contains `query`, whose id it is, or who own a Stripe id it is
    (a Customer, Checkout Session or PaymentIntent we store, or a charge of such a PaymentIntent)."""
    query = query.strip()
    if not query:
        return []
    like = f"%{query.lower().replace('%', '').replace('_', '')}%"
    found: dict[int, Found] = {}
    # A charge id is not stored: Stripe says which PaymentIntent it belongs to (asked before
    # the read below, so no transaction stays open while Stripe answers).
    charge_intent = charges.payment_intent_for_charge(query)
    with read() as session:

        def add(rows: Any, matched: str) -> None:
            for row in rows:
                found.setdefault(row.id, Found(row.id, row.email, row.name, matched))

        if query.isdigit():
            add(
                session.execute(sa.select(User.id, User.email, User.name).where(User.id == int(query))),
                "user id",
            )
        by_stripe = sa.or_(
            CreditPurchase.stripe_checkout_session_id == query,
            CreditPurchase.stripe_payment_intent_id == query,
        )
        add(
            session.execute(
                sa.select(User.id, User.email, User.name)
                .join(CreditPurchase, CreditPurchase.user_id == User.id)
                .where(by_stripe)
            ),
            "Stripe payment",
        )
        if charge_intent is not None:
            add(
                session.execute(
                    sa.select(User.id, User.email, User.name)
                    .join(CreditPurchase, CreditPurchase.user_id == User.id)
                    .where(CreditPurchase.stripe_payment_intent_id == charge_intent)
                ),
                "Stripe charge",
            )
        add(
            session.execute(
                sa.select(User.id, User.email, User.name).where(User.stripe_customer_id == query)
            ),
            "Stripe customer",
        )
        add(
            session.execute(
                sa.select(User.id, User.email, User.name)
                .where(sa.or_(sa.func.lower(User.email).like(like), sa.func.lower(User.name).like(like)))
                .order_by(User.email)
                .limit(SEARCH_LIMIT)
            ),
            "e-mail or name",
        )
    return list(found.values())[:SEARCH_LIMIT]


@dataclass(frozen=True)
class Customer:
    """Everything the customer page shows."""

    user: Any
    balance: ledger.Balance
    lots: list[ledger.LotView]
    history: history.Page
    purchases: list[Any]
    jobs: list[Any]
    holds: list[Any]
    keys: list[api_keys.KeySummary]
    topup: topups.TopupSettings
    emails: list[Any]
    signed_out_sessions: int
    # The organizations they are in (their role, its balance): the wallets besides their own.
    organizations: list[teams.OrganizationView]


def find_user(user_id: int) -> Any | None:
    """The user row (detached), or None."""
    with read() as session:
        user = session.get(User, user_id)
        if user is not None:
            session.expunge(user)
    return user


def customer(user_id: int, before: str | None = None) -> Customer | None:
    """The customer page's data, or None when no such user."""
    user = find_user(user_id)
    if user is None:
        return None
    balance = ledger.balance(user_id)
    now = utcnow()
    with read() as session:
        purchases = (
            session.execute(
                sa.select(CreditPurchase)
                .where(CreditPurchase.user_id == user_id)
                .order_by(CreditPurchase.id.desc())
                .limit(50)
            )
            .scalars()
            .all()
        )
        open_first = sa.case(
            (FeatureJob.status == "failed", 0),
            (sa.and_(FeatureJob.status.in_(("queued", "running")), FeatureJob.deadline_at < now), 0),
            else_=1,
        )
        jobs = session.execute(
            sa.select(FeatureJob, CreditSpend.credits_spent, CreditSpend.status.label("spend_status"))
            .join(CreditSpend, CreditSpend.id == FeatureJob.spend_id)
            .where(FeatureJob.user_id == user_id)
            .order_by(open_first, FeatureJob.created_at.desc())
            .limit(50)
        ).all()
        holds = (
            session.execute(
                sa.select(CreditSpend)
                .where(CreditSpend.user_id == user_id, CreditSpend.status == "held")
                .order_by(CreditSpend.created_at)
            )
            .scalars()
            .all()
        )
        emails = (
            session.execute(
                sa.select(Notification)
                .where(Notification.user_id == user_id)
                .order_by(Notification.id.desc())
                .limit(30)
            )
            .scalars()
            .all()
        )
        signed_out = session.execute(
            sa.select(sa.func.count()).select_from(RevokedSession).where(RevokedSession.user_id == user_id)
        ).scalar_one()
        for row in (*purchases, *holds, *emails, *(job[0] for job in jobs)):
            session.expunge(row)
    return Customer(
        user=user,
        balance=balance,
        lots=ledger.lots_of(user_id),
        history=history.page(user_id, before=before, show_all=True, balance=balance.credits),
        purchases=list(purchases),
        jobs=list(jobs),
        holds=list(holds),
        keys=api_keys.list_keys(user_id),
        topup=topups.settings_for(user_id),
        emails=list(emails),
        signed_out_sessions=int(signed_out),
        organizations=teams.organizations_of(user_id),
    )


def is_stuck_hold(spend: Any) -> bool:
    """A hold older than STUCK_AFTER: its use should have ended by now."""
    created = (
        spend.created_at if spend.created_at.tzinfo else spend.created_at.replace(tzinfo=utcnow().tzinfo)
    )
    return utcnow() - created > STUCK_AFTER


def dashboard_url(payment_intent_id: str | None) -> str | None:
    """The Stripe dashboard page of a PaymentIntent."""
    return f"{STRIPE_DASHBOARD}/payments/{payment_intent_id}" if payment_intent_id else None


def topup_failures(user_id: int) -> list[Any]:
    """The customer's failed automatic top-ups, newest first."""
    with read() as session:
        rows = (
            session.execute(
                sa.select(CreditPurchase)
                .where(
                    CreditPurchase.user_id == user_id,
                    CreditPurchase.source == "auto_recharge",
                    CreditPurchase.status == "failed",
                )
                .order_by(CreditPurchase.id.desc())
                .limit(20)
            )
            .scalars()
            .all()
        )
        for row in rows:
            session.expunge(row)
    return list(rows)
