"""Buying for an organization: its owners and admins pay as its own Stripe Customer, the pack
credits the organization's wallet (never the buyer's), its receipt is for its managers only,
and a refund claws back from the organization's lot."""

from __future__ import annotations

from html import unescape

import pytest
import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.extensions import db
from creditapp.models import CreditLot
from tests.support import stripe_helpers
from tests.support.lifecycle import clawback_moves, refund, settled
from tests.support.orgs import (
    customer_of,
    make_org,
    org_checkout,
    purchases_into,
    row_counts,
    wait_for_wallet,
    wallet_balance,
)
from tests.support.stripe_helpers import credits, csrf_token, price_id, purchase, session
from tests.support.threads import race

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def lots_of(wallet_id: int) -> list[CreditLot]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(CreditLot).where(CreditLot.wallet_id == wallet_id)))


def test_an_admin_buys_a_pack_and_the_organization_is_credited_not_the_buyer(
    stripe_env, client, make_user, sign_in_as
):
    org = make_org(make_user)
    sign_in_as(client, org.admin)

    session_id = org_checkout(client, org.id, 500)
    stripe_env.pay(session_id)

    wait_for_wallet(org.wallet_id, 500)
    assert credits(org.admin) == 500  # the buyer's personal balance is untouched
    bought = purchase(session_id)
    assert (bought.status, bought.wallet_id, bought.user_id) == ("completed", org.wallet_id, org.admin)
    [lot] = lots_of(org.wallet_id)
    assert (lot.source, lot.category, lot.amount, lot.purchase_id) == ("purchase", "paid", 500, bought.id)
    paid = session(session_id)
    assert paid["customer"] == customer_of(org.id) and paid["customer"].startswith("cus_")
    assert paid["metadata"]["org_id"] == str(org.id)
    assert ledger.audit() == []


def test_the_organizations_receipt_is_shown_to_its_owners_and_admins_only(
    stripe_env, app, client, make_user, sign_in_as
):
    org = make_org(make_user)
    sign_in_as(client, org.owner)
    session_id = org_checkout(client, org.id, 100)
    assert session(session_id)["success_url"].endswith(f"&org={org.id}")
    stripe_env.pay(session_id)
    wait_for_wallet(org.wallet_id, 100)
    url = f"/checkout/success?session_id={session_id}&org={org.id}"

    seen = {}
    for who in ("owner", "admin", "member", "removed", "outsider"):
        viewer = sign_in_as(app.test_client(), getattr(org, who))
        seen[who] = viewer.get(url)
    personal = client.get(f"/checkout/success?session_id={session_id}")

    assert {who: r.status_code for who, r in seen.items()} == {
        "owner": 200,
        "admin": 200,
        "member": 403,
        "removed": 404,
        "outsider": 404,
    }
    assert "100 credits were added to Acme's balance" in unescape(seen["admin"].get_data(as_text=True))
    assert personal.status_code == 404  # not the buyer's own purchase


@pytest.mark.parametrize(("who", "status"), [("member", 403), ("removed", 404), ("outsider", 404)])
def test_only_owners_and_admins_start_a_checkout_for_the_organization_and_a_refusal_writes_nothing(
    stripe_env, client, make_user, sign_in_as, who, status
):
    org = make_org(make_user)
    sign_in_as(client, getattr(org, who))
    before = row_counts()

    response = client.post(
        "/billing/checkout",
        data={
            "price_id": price_id(500),
            "org": str(org.id),
            "save_card": "1",
            "csrf_token": csrf_token(client),
        },
    )
    page = client.get(f"/buy-credits?org={org.id}")

    assert response.status_code == status
    assert row_counts() == before
    assert stripe_env.stripe_requests("/v1/checkout/sessions") == []
    assert stripe_env.stripe_requests("/v1/customers") == []
    if who == "member":
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Only owners and admins of Acme buy credits for it" in html
        assert 'action="/billing/checkout"' not in html
    else:
        assert page.status_code == 404


def test_the_buy_page_in_the_organizations_context_buys_for_it_and_its_managers_find_it(
    stripe_env, client, make_user, sign_in_as
):
    org = make_org(make_user, credits=40)
    sign_in_as(client, org.owner)

    html = unescape(client.get(f"/buy-credits?org={org.id}").get_data(as_text=True))

    assert "Buy credits for Acme" in html and "Acme's balance: <strong>40 credits</strong>" in html
    assert html.count(f'<input type="hidden" name="org" value="{org.id}">') == 3
    members_page = client.get(f"/orgs/{org.id}/members").get_data(as_text=True)
    assert f'href="/buy-credits?org={org.id}"' in members_page
    assert f'href="/account/auto-recharge?org={org.id}"' in members_page
    sign_in_as(client, org.member)
    assert "/buy-credits?org=" not in client.get(f"/orgs/{org.id}/members").get_data(as_text=True)


def test_two_first_purchases_at_once_make_one_stripe_customer_for_the_organization(
    stripe_env, app, make_user, sign_in_as
):
    org = make_org(make_user)
    buyers = [sign_in_as(app.test_client(), org.owner), sign_in_as(app.test_client(), org.admin)]
    forms = [{"price_id": price_id(100), "org": str(org.id), "csrf_token": csrf_token(c)} for c in buyers]

    answers = race(app, lambda i: buyers[i].post("/billing/checkout", data=forms[i]), 2)

    assert [answer.status_code for answer in answers] == [303, 303]
    customer = customer_of(org.id)
    sessions = [session(p.stripe_checkout_session_id) for p in purchases_into(org.wallet_id)]
    assert len(sessions) == 2 and {s["customer"] for s in sessions} == {customer}


def test_a_refund_claws_back_from_the_organizations_lot_not_the_buyer(
    stripe_env, client, make_user, sign_in_as
):
    org = make_org(make_user, credits=50)
    sign_in_as(client, org.admin)
    session_id = org_checkout(client, org.id, 500)
    stripe_env.pay(session_id)
    wait_for_wallet(org.wallet_id, 550)

    refund(session_id, 1000)  # $10 of $20: 250 of the 500 credits
    wait_for_wallet(org.wallet_id, 300)
    settled(stripe_env)

    assert clawback_moves(session_id) == [("refund", -250)]
    assert credits(org.admin) == 500
    bought = purchase(session_id)
    lot = next(lot for lot in lots_of(org.wallet_id) if lot.purchase_id == bought.id)
    assert lot.remaining == 250  # taken from the purchase's own lot, the granted one untouched
    assert wallet_balance(org.wallet_id) == 300
    assert ledger.audit() == []


def test_a_buyer_removed_from_the_organization_loses_its_receipt_at_once(
    stripe_env, client, make_user, sign_in_as
):
    org = make_org(make_user)
    sign_in_as(client, org.admin)
    session_id = org_checkout(client, org.id, 100)
    stripe_env.pay(session_id)
    wait_for_wallet(org.wallet_id, 100)
    receipt_url = f"/checkout/success?session_id={session_id}&org={org.id}"
    assert client.get(receipt_url).status_code == 200

    teams.remove_member(org.id, org.owner, org.admin)

    assert client.get(receipt_url).status_code == 404
    assert client.get(f"/checkout/success?session_id={session_id}").status_code == 404
    assert client.get(f"/history/purchases/{purchase(session_id).id}/receipt").status_code == 404


def test_the_organizations_receipts_show_its_balance_and_lead_back_to_its_history(
    stripe_env, client, make_user, sign_in_as
):
    org = make_org(make_user)  # its people have 500 credits each of their own
    sign_in_as(client, org.admin)
    session_id = org_checkout(client, org.id, 100)
    stripe_env.pay(session_id)
    wait_for_wallet(org.wallet_id, 100)

    success = client.get(f"/checkout/success?session_id={session_id}&org={org.id}")
    polled = client.get(
        f"/checkout/success?session_id={session_id}&org={org.id}&poll=1", headers={"HX-Request": "true"}
    )
    receipt = client.get(f"/history/purchases/{purchase(session_id).id}?org={org.id}")

    assert success.status_code == polled.status_code - 86 == receipt.status_code == 200
    page = success.get_data(as_text=True)
    # The header's badge is the organization's balance, and asks for it again once paid.
    assert 'data-credits="100"' in page and 'data-credits="500"' not in page
    assert f"/credits/badge?org={org.id}" in page
    for html in (page, polled.get_data(as_text=True), receipt.get_data(as_text=True)):
        assert f'href="/history?org={org.id}"' in html.split('id="receipt"', 1)[1]
        assert 'href="/history"' not in html.split('id="receipt"', 1)[1]
