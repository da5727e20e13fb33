"""Pages reached from an organization's context keep it: the page a spend leads to (its job),
and the "buy credits" ways out of a feature page short of credits. Followed, they act on the
organization's wallet, never on the person's own."""

from __future__ import annotations

import re

import pytest

from creditapp import ledger, teams

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


@pytest.fixture
def acme(make_user):
    """One person with 100 personal credits, owner of Acme (funded with `credits` later)."""
    person = make_user("person@example.com", credits=100)
    org_id = teams.create_organization(person, "Acme")
    return person, teams.organization_for(org_id, person)


def test_a_spends_job_page_shows_the_organizations_balance_and_its_again_link_keeps_it(
    client, acme, sign_in_as
):
    person, org = acme
    ledger.grant(person, 50, note="funding", wallet_id=org.wallet_id)
    sign_in_as(client, person)
    form = dict(HIDDEN.findall(client.get(f"/features/qr?org={org.id}").get_data(as_text=True)))

    spent = client.post("/features/qr", data={**form, "text": "hello", "scale": "4"})
    assert spent.status_code == 303  # without JavaScript: to the job's page
    page = client.get(spent.headers["Location"]).get_data(as_text=True)

    assert teams.organization_for(org.id, person).credits == 49
    # The header's badge is the wallet the job spent from, and asks for it again.
    assert 'data-credits="49"' in page and 'data-credits="100"' not in page
    assert f"/credits/badge?org={org.id}" in page
    # The header's links keep the context; there is no switcher (the job's wallet is fixed).
    header = page.split("<main", 1)[0]
    assert f'href="/history?org={org.id}"' in header and f'href="/features/qr?org={org.id}"' in header
    assert 'id="context-switcher"' not in page
    # "QR code again" opens the form in the organization's context, not the personal one.
    again = re.search(r'<p><a href="([^"]+)">[^<]+ again</a></p>', page)
    assert again is not None and again.group(1) == f"/features/qr?org={org.id}"


def test_a_personal_jobs_page_stays_personal(client, acme, sign_in_as):
    person, org = acme
    ledger.grant(person, 50, note="funding", wallet_id=org.wallet_id)
    sign_in_as(client, person)
    form = dict(HIDDEN.findall(client.get("/features/qr").get_data(as_text=True)))

    page = client.get(
        client.post("/features/qr", data={**form, "text": "hello", "scale": "4"}).headers["Location"]
    ).get_data(as_text=True)

    assert 'data-credits="99"' in page and "/credits/badge?org=" not in page
    assert re.search(r'<p><a href="/features/qr">[^<]+ again</a></p>', page)


def test_buy_credits_from_a_short_organizations_feature_page_buys_for_the_organization(
    client, acme, sign_in_as
):
    person, org = acme  # Acme has no credits; the person has 100 of their own
    sign_in_as(client, person)
    buy_here = f'href="/buy-credits?org={org.id}"'
    page = client.get(f"/features/qr?org={org.id}").get_data(as_text=True)
    form = dict(HIDDEN.findall(page))

    quote = client.get(f"/features/qr/quote?org={org.id}&text=hello&scale=4").get_data(as_text=True)
    refused = client.post("/features/qr", data={**form, "text": "hello", "scale": "4"})
    refused_htmx = client.post(
        "/features/qr", data={**form, "text": "hello", "scale": "4"}, headers={"HX-Request": "true"}
    )

    assert "That is not enough" in page and "That is not enough" in quote
    for html in (page.split("<main", 1)[1], quote):  # the page's own links, not the header's
        assert buy_here in html and 'href="/buy-credits"' not in html
    assert refused.status_code == 402 and refused_htmx.status_code == 402
    for response in (refused, refused_htmx):
        problem = response.get_data(as_text=True).split('id="problem"', 1)[1]
        assert f'<a class="button" {buy_here}>Buy credits</a>' in problem
    assert ledger.balance(person).credits == 100


def test_a_member_at_their_monthly_limit_is_not_sent_to_buy_credits(client, make_user, sign_in_as):
    owner = make_user("owner@example.com")
    member = make_user("member@example.com")
    org_id = teams.create_organization(owner, "Acme")
    _, token = teams.invite(org_id, owner, "member@example.com", "member")
    teams.accept(token, member)
    teams.set_member_limit(org_id, owner, member, 0)
    ledger.grant(owner, 50, note="funding", wallet_id=teams.organization_for(org_id, owner).wallet_id)
    sign_in_as(client, member)
    form = dict(HIDDEN.findall(client.get(f"/features/qr?org={org_id}").get_data(as_text=True)))

    refused = client.post(
        "/features/qr", data={**form, "text": "hello", "scale": "4"}, headers={"HX-Request": "true"}
    )

    html = refused.get_data(as_text=True)
    assert refused.status_code == 402 and "problem-member_limit_reached" in html
    assert "Buy credits" not in html  # buying does not lift a member's limit
    assert teams.organization_for(org_id, owner).credits == 50
