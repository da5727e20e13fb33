"""The context switcher: a feature page acts on the wallet its URL or form names, so two tabs
in two contexts never cross, and the badge shows the context's balance."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.extensions import db
from creditapp.models import CreditSpend, User

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def two_orgs(make_user):
    person = make_user("person@example.com", credits=100)
    orgs = {}
    for name, credits in (("Acme", 50), ("Globex", 70)):
        org_id = teams.create_organization(person, name)
        org = teams.organization_for(org_id, person)
        ledger.grant(person, credits, note="funding", wallet_id=org.wallet_id)
        orgs[name] = org
    return person, orgs


def wallet_of_spends(user_id: int) -> list[int]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(CreditSpend.wallet_id)
                .where(CreditSpend.user_id == user_id)
                .order_by(CreditSpend.id)
            )
            .scalars()
            .all()
        )


def test_each_spend_lands_in_the_wallet_its_tab_names(client, app, two_orgs, sign_in_as):
    person, orgs = two_orgs
    sign_in_as(client, person)
    acme_page = client.get(f"/features/qr?org={orgs['Acme'].id}").get_data(as_text=True)
    globex_page = client.get(f"/features/qr?org={orgs['Globex'].id}").get_data(as_text=True)
    personal_page = client.get("/features/qr").get_data(as_text=True)
    assert "Spending from Acme" in acme_page and "You have 50." in acme_page
    assert "You have 70." in globex_page and "You have 100." in personal_page

    for page in (globex_page, personal_page, acme_page):  # submitted in another order than opened
        form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
        response = client.post("/features/qr", data={**form, "text": "hello", "scale": "4"})
        assert response.status_code == 303

    with db.engine.connect() as conn:
        personal_wallet = conn.execute(sa.select(User.wallet_id).where(User.id == person)).scalar_one()
    assert wallet_of_spends(person) == [orgs["Globex"].wallet_id, personal_wallet, orgs["Acme"].wallet_id]
    assert ledger.balance(person).credits == 99
    assert teams.organization_for(orgs["Acme"].id, person).credits == 49
    assert teams.organization_for(orgs["Globex"].id, person).credits == 69
    assert ledger.audit() == []


def test_the_badge_and_the_switcher_show_the_context(client, two_orgs, sign_in_as):
    person, orgs = two_orgs
    sign_in_as(client, person)

    page = client.get(f"/features/qr?org={orgs['Globex'].id}").get_data(as_text=True)
    badge = client.get(f"/credits/badge?org={orgs['Globex'].id}")

    assert 'data-credits="70"' in page
    assert f'<option value="{orgs["Globex"].id}" selected>Globex</option>' in page
    assert badge.status_code == 200 and 'data-credits="70"' in badge.get_data(as_text=True)
    assert f"/credits/badge?org={orgs['Globex'].id}" in badge.get_data(as_text=True)
    assert 'data-credits="100"' in client.get("/credits/badge").get_data(as_text=True)


def test_another_persons_organization_is_a_404_in_every_context_route(
    client, two_orgs, make_user, sign_in_as
):
    _, orgs = two_orgs
    sign_in_as(client, make_user("outsider@example.com"))
    org_id = orgs["Acme"].id
    token = CSRF.search(client.get("/features/qr").get_data(as_text=True)).group(1)

    assert client.get(f"/features/qr?org={org_id}").status_code == 404
    assert client.get(f"/features/qr/quote?org={org_id}&text=x").status_code == 404
    assert client.get(f"/credits/badge?org={org_id}").status_code == 404
    response = client.post(
        "/features/qr", data={"org": str(org_id), "text": "x", "scale": "4", "csrf_token": token}
    )
    assert response.status_code == 404
    assert teams.organization_for(org_id, two_orgs[0]).credits == 50


@pytest.mark.parametrize("raw", ["²", "٣", "99999999999999999999"])
def test_an_org_that_is_no_organizations_id_is_a_404_not_an_error(app, two_orgs, sign_in_as, raw):
    person, _ = two_orgs
    client = sign_in_as(app.test_client(), person)

    pages = ("/history", "/features/qr", "/credits/badge", "/account/api-keys", "/buy-credits", "/api/usage")
    for url in pages:
        assert client.get(f"{url}?org={raw}").status_code == 404, url
