"""Helpers for an organization's buying and top-up tests: an organization with one person of
each kind (owner, admin, member, removed member, outsider), its wallet, and its purchases."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask.testing import FlaskClient

from creditapp import teams
from creditapp.extensions import db
from creditapp.models import AutoRechargeSettings, CreditPurchase, Notification, Organization, Wallet
from tests.support.stripe_helpers import csrf_token, price_id, wait_for


@dataclass(frozen=True)
class Org:
    """An organization and its people (user ids) by role."""

    id: int
    wallet_id: int
    owner: int
    admin: int
    member: int
    removed: int
    outsider: int


def make_org(make_user, name: str = "Acme", tag: str = "acme", credits: int = 0) -> Org:
    """An organization (owner, admin, member, a member removed since, an outsider), each with
    500 personal credits; `credits` granted to the organization's wallet by its owner."""
    people = {role: make_user(f"{role}@{tag}.example") for role in ("owner", "admin", "member", "removed")}
    outsider = make_user(f"outsider@{tag}.example")
    org_id = teams.create_organization(people["owner"], name)
    for role in ("admin", "member", "removed"):
        _, token = teams.invite(
            org_id, people["owner"], f"{role}@{tag}.example", "member" if role == "removed" else role
        )
        teams.accept(token, people[role])
    teams.remove_member(org_id, people["owner"], people["removed"])
    wallet_id = teams.organization_for(org_id, people["owner"]).wallet_id
    if credits:
        from creditapp import ledger

        ledger.grant(people["owner"], credits, note="test funding", wallet_id=wallet_id)
    return Org(
        org_id, wallet_id, people["owner"], people["admin"], people["member"], people["removed"], outsider
    )


def wallet_balance(wallet_id: int) -> int:
    """The wallet's stored balance, read fresh."""
    db.session.rollback()
    return db.session.execute(sa.select(Wallet.balance).where(Wallet.id == wallet_id)).scalar_one()


def wait_for_wallet(wallet_id: int, expected: int, timeout: float = 10.0) -> None:
    """Wait until the wallet's balance equals `expected`."""
    wait_for(lambda: wallet_balance(wallet_id) == expected, timeout, f"wallet {wallet_id} to hold {expected}")


def org_checkout(client: FlaskClient, org_id: int, pack: int = 500, **extra: str) -> str:
    """Buy a pack for the organization through POST /billing/checkout; the session id."""
    response = client.post(
        "/billing/checkout",
        data={"price_id": price_id(pack), "org": str(org_id), "csrf_token": csrf_token(client), **extra},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return urlsplit(response.headers["Location"]).path.rsplit("/", 1)[-1]


def customer_of(org_id: int) -> str | None:
    """The organization's Stripe Customer id, read fresh."""
    db.session.rollback()
    return db.session.execute(
        sa.select(Organization.stripe_customer_id).where(Organization.id == org_id)
    ).scalar_one()


def purchases_into(wallet_id: int) -> list[CreditPurchase]:
    """Every purchase into the wallet, oldest first, read fresh."""
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(CreditPurchase)
            .where(CreditPurchase.wallet_id == wallet_id)
            .order_by(CreditPurchase.id)
            .execution_options(populate_existing=True)
        )
    )


def topup_settings(wallet_id: int) -> AutoRechargeSettings | None:
    """The wallet's automatic top-up settings, read fresh."""
    db.session.rollback()
    return db.session.get(AutoRechargeSettings, wallet_id, populate_existing=True)


def row_counts() -> dict[str, int]:
    """How many purchases, settings rows and e-mails exist: a refusal changes none of them."""
    db.session.rollback()
    tables = {"purchases": CreditPurchase, "settings": AutoRechargeSettings, "emails": Notification}
    counts = {
        name: db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
        for name, model in tables.items()
    }
    counts["customer"] = db.session.execute(
        sa.select(sa.func.count())
        .select_from(Organization)
        .where(Organization.stripe_customer_id.is_not(None))
    ).scalar_one()
    return counts
