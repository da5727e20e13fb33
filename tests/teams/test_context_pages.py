"""History, usage, the CSV and the Credits page in an organization's context (`?org=<id>`), and
`/api/usage` and `/api/credit-lots` on an organization's wallet: owners and admins see every
member's spends (who, which key, what it cost), a member their own, anyone else a 404."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.accounts import api_keys
from creditapp.extensions import db
from creditapp.ledger import job_holds
from creditapp.models import ApiKey, CreditLot, CreditSpend, utcnow
from tests.accounts.conftest import bearer


def org_spend(user_id: int, wallet_id: int | None, cost: int, text: str, key_id: int | None = None) -> int:
    """A captured QR code spend from a wallet (None: the personal one), as the feature makes it."""
    held = job_holds.hold_for_job(
        user_id,
        "qr",
        cost,
        {"text": text, "scale": 4},
        utcnow() + timedelta(minutes=5),
        wallet_id=wallet_id,
        api_key_id=key_id,
    )
    ledger.capture(held.spend.spend_id)
    return held.spend.spend_id


def key_for(user_id: int, wallet_id: int | None = None, name: str = "deploy bot") -> tuple[str, str, int]:
    """A read/spend key of the user; with `wallet_id` it acts on that wallet (an organization key)."""
    created = api_keys.create_key(user_id, name, ["read", "spend"], None)
    if wallet_id is not None:
        db.session.execute(sa.update(ApiKey).where(ApiKey.id == created.id).values(wallet_id=wallet_id))
        db.session.commit()
    return created.token, created.prefix, created.id


@pytest.fixture
def acme(make_user):
    """Acme (200 credits granted) with an owner, an admin and a member who each spent from it;
    the member also spent from their own wallet; Globex, another organization, spent too."""
    owner = make_user("olive@example.com", name="Olive Owner")
    admin = make_user("adam@example.com", name="Adam Admin")
    member = make_user("mia@example.com", credits=40, name="Mia Member")
    org_id = teams.create_organization(owner, "Acme")
    wallet_id = teams.organization_for(org_id, owner).wallet_id
    ledger.grant(owner, 200, note="seed money", wallet_id=wallet_id)
    for person, email, role in ((admin, "adam@example.com", "admin"), (member, "mia@example.com", "member")):
        _, token = teams.invite(org_id, owner, email, role)
        teams.accept(token, person)
    _, admin_prefix, admin_key = key_for(admin, wallet_id)
    org_spend(member, wallet_id, 7, "mia-secret")
    org_spend(admin, wallet_id, 11, "adam-by-key", key_id=admin_key)
    org_spend(owner, wallet_id, 5, "olive-browser")
    org_spend(member, None, 3, "mia-personal")

    globex_id = teams.create_organization(owner, "Globex")
    globex_wallet = teams.organization_for(globex_id, owner).wallet_id
    ledger.grant(owner, 100, note="globex money", wallet_id=globex_wallet)
    org_spend(owner, globex_wallet, 13, "globex-secret")
    return {
        "id": org_id,
        "wallet_id": wallet_id,
        "owner": owner,
        "admin": admin,
        "member": member,
        "admin_prefix": admin_prefix,
        "globex": globex_id,
        "globex_wallet": globex_wallet,
    }


def amounts(page: str) -> list[str]:
    """The Credits column of a History page, top to bottom."""
    return re.findall(r'<td class="num amount-[a-z]+">([^<]*)</td>', page)


def history_csv(client, org_id: int) -> list[dict[str, str]]:
    response = client.get(f"/history.csv?org={org_id}")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_owners_and_admins_see_every_members_spends_with_who_and_which_key(client, acme, sign_in_as):
    for manager in (acme["owner"], acme["admin"]):
        sign_in_as(client, manager)
        page = client.get(f"/history?org={acme['id']}").get_data(as_text=True)

        assert "Acme's history" in page
        assert amounts(page) == ["-5", "-11", "-7", "+200"]
        assert "by Olive Owner &lt;olive@example.com&gt; in the browser" in page
        by_key = f'<span class="via-key">with API key deploy bot ({acme["admin_prefix"]})'
        assert f"by Adam Admin &lt;adam@example.com&gt;</span> {by_key}" in page
        assert "by Mia Member &lt;mia@example.com&gt; in the browser" in page
        # The running balance counts every line: 200 − 7 − 11 − 5.
        assert re.findall(r'<td class="num running">([^<]*)</td>', page) == ["177", "182", "193", "200"]
        assert "mia-personal" not in page and "-3" not in amounts(page)
        assert "globex-secret" not in page and "globex money" not in page


def test_a_spends_prompt_and_job_show_only_to_the_member_who_made_it(client, acme, sign_in_as):
    sign_in_as(client, acme["owner"])
    owner_view = client.get(f"/history?org={acme['id']}").get_data(as_text=True)
    sign_in_as(client, acme["member"])
    member_view = client.get(f"/history?org={acme['id']}").get_data(as_text=True)

    assert (
        "olive-browser" in owner_view and "mia-secret" not in owner_view and "adam-by-key" not in owner_view
    )
    assert "mia-secret" in member_view


def test_a_member_sees_their_own_spends_and_the_wallets_grants_only(client, acme, sign_in_as):
    sign_in_as(client, acme["member"])
    page = client.get(f"/history?org={acme['id']}").get_data(as_text=True)

    assert amounts(page) == ["-7", "+200"]
    assert "adam@example.com" not in page and "olive@example.com" not in page
    assert "deploy bot" not in page
    # No running balance: it would count lines the member does not see.
    assert set(re.findall(r'<td class="num running">([^<]*)</td>', page)) == {"—"}
    assert "You see your own spends" in page


def test_the_personal_history_keeps_to_the_personal_wallet(client, acme, sign_in_as):
    sign_in_as(client, acme["member"])
    member_page = client.get("/history").get_data(as_text=True)
    sign_in_as(client, acme["owner"])
    owner_page = client.get("/history").get_data(as_text=True)

    assert amounts(member_page) == ["-3", "+40"]  # the signup bonus, the personal QR code
    assert "seed money" not in owner_page and "globex money" not in owner_page
    assert "-5" not in amounts(owner_page) and "-13" not in amounts(owner_page)


def test_every_link_and_form_of_the_history_page_keeps_the_organization(client, acme, sign_in_as):
    sign_in_as(client, acme["owner"])
    org = acme["id"]
    page = client.get(f"/history?org={org}").get_data(as_text=True)

    assert f'hx-get="/history/chart?org={org}"' in page
    assert f'href="/history.csv?org={org}"' in page
    assert f'href="/history?all=1&amp;org={org}"' in page
    assert f'href="/history?org={org}" aria-current="page"' in page  # the nav's History
    assert f'<option value="{org}" selected>Acme</option>' in page  # the switcher
    assert f"/credits/badge?org={org}" in page and 'data-credits="177"' in page
    chart = client.get(f"/history/chart?org={org}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f'href="/history/usage?org={org}"' in chart and "23 credits spent" in chart
    usage = client.get(f"/history/usage?org={org}").get_data(as_text=True)
    assert f'<input type="hidden" name="org" value="{org}">' in usage
    assert f'href="/history?org={org}"' in usage


def test_the_history_pages_load_more_keeps_the_organization(client, acme, sign_in_as):
    for n in range(50):
        org_spend(acme["owner"], acme["wallet_id"], 1, f"bulk {n}")
    sign_in_as(client, acme["owner"])
    page = client.get(f"/history?org={acme['id']}").get_data(as_text=True)
    before = re.search(r'name="before" value="([^"]+)"', page).group(1)

    assert f'<input type="hidden" name="org" value="{acme["id"]}">' in page
    rest = client.get(
        "/history", query_string={"org": acme["id"], "before": before}, headers={"HX-Request": "true"}
    )
    rows = rest.get_data(as_text=True)
    assert amounts(rows) == ["-5", "-11", "-7", "+200"]
    assert re.findall(r'<td class="num running">([^<]*)</td>', rows) == ["177", "182", "193", "200"]


def test_the_organizations_csv_names_the_spender_and_key_for_its_managers(client, acme, sign_in_as):
    sign_in_as(client, acme["admin"])
    lines = history_csv(client, acme["id"])

    assert [(line["kind"], line["credits"], line["spent_by"]) for line in lines] == [
        ("spend", "-5", "Olive Owner <olive@example.com>"),
        ("spend", "-11", "Adam Admin <adam@example.com>"),
        ("spend", "-7", "Mia Member <mia@example.com>"),
        ("adjustment", "200", ""),
    ]
    assert lines[1]["api_key"] == f"deploy bot ({acme['admin_prefix']})" and lines[0]["api_key"] == ""
    assert [line["balance_after"] for line in lines] == ["177", "182", "193", "200"]
    assert "adam-by-key" in lines[1]["summary"] and lines[0]["summary"] == lines[2]["summary"] == ""


def test_a_members_csv_holds_their_own_spends(client, acme, sign_in_as):
    sign_in_as(client, acme["member"])
    lines = history_csv(client, acme["id"])

    assert [(line["kind"], line["credits"], line["balance_after"]) for line in lines] == [
        ("spend", "-7", ""),
        ("adjustment", "200", ""),
    ]
    assert "mia-secret" in lines[0]["summary"] and lines[0]["spent_by"] == ""


def test_the_usage_page_counts_every_member_for_managers_and_their_own_for_a_member(client, acme, sign_in_as):
    sign_in_as(client, acme["owner"])
    by_key = client.get(f"/history/usage?org={acme['id']}&group_by=key").get_data(as_text=True)
    sign_in_as(client, acme["member"])
    own = client.get(f"/history/usage?org={acme['id']}&group_by=feature").get_data(as_text=True)

    assert "Acme's usage" in by_key and f"deploy bot ({acme['admin_prefix']})" in by_key
    assert "Bought in all" in by_key and "Bought in all" not in own
    assert "You see the credits you spent" in own
    assert "deploy bot" not in own


def test_api_usage_reads_the_keys_wallet_by_its_makers_role(client, acme, make_user):
    admin_key, _, _ = key_for(acme["admin"], acme["wallet_id"], name="admin org key")
    member_key, _, _ = key_for(acme["member"], acme["wallet_id"], name="member org key")
    personal_key, _, _ = key_for(acme["member"], name="member personal key")

    def usage_total(token: str) -> int:
        response = client.get("/api/usage?group_by=feature", headers=bearer(token))
        assert response.status_code == 200
        return response.get_json()["total"]

    assert usage_total(admin_key) == 23
    assert usage_total(member_key) == 7
    assert usage_total(personal_key) == 3

    teams.remove_member(acme["id"], acme["owner"], acme["member"])
    # Removal revokes the keys the member made for the organization: they authenticate no more.
    refused = client.get("/api/usage", headers=bearer(member_key))
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_token"
    assert client.get("/api/credit-lots", headers=bearer(member_key)).status_code == 401
    assert usage_total(personal_key) == 3


def test_api_usage_and_lots_in_a_browser_session_read_the_org_of_the_request(client, acme, sign_in_as):
    sign_in_as(client, acme["member"])

    assert client.get(f"/api/usage?org={acme['id']}").get_json()["total"] == 7
    assert client.get("/api/usage").get_json()["total"] == 3
    org_lots = client.get(f"/api/credit-lots?org={acme['id']}").get_json()["lots"]
    own_lots = client.get("/api/credit-lots").get_json()["lots"]
    assert [(lot["source"], lot["remaining"]) for lot in org_lots] == [("grant", 177)]
    assert [lot["source"] for lot in own_lots] == ["signup_bonus"]


def test_the_credits_page_shows_the_organizations_lots(client, acme, sign_in_as):
    sign_in_as(client, acme["member"])
    page = client.get(f"/account/credits?org={acme['id']}").get_data(as_text=True)
    own = client.get("/account/credits").get_data(as_text=True)

    assert "Acme's credits" in page and "seed money" in page and "177 of 200" in page
    assert "data-balance>177<" in page.replace("</span>", "<")
    assert f'href="/history?org={acme["id"]}"' in page
    assert "seed money" not in own and "37 of 40" in own


@pytest.mark.parametrize(
    "path",
    [
        "/history",
        "/history/chart",
        "/history.csv",
        "/history/usage",
        "/account/credits",
        "/account/credits/expiring",
        "/api/usage",
        "/api/credit-lots",
    ],
)
def test_an_outsider_and_a_removed_member_get_a_404_everywhere(client, acme, make_user, sign_in_as, path):
    separator = "&" if "?" in path else "?"
    url = f"{path}{separator}org={acme['id']}"
    sign_in_as(client, make_user("outsider@example.com"))
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 404

    sign_in_as(client, acme["member"])
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 200
    teams.remove_member(acme["id"], acme["owner"], acme["member"])
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert b"seed money" not in response.data and b"mia-secret" not in response.data


def test_nothing_of_another_organization_shows_in_one_organizations_pages(client, acme, sign_in_as):
    sign_in_as(client, acme["owner"])
    pages = [
        client.get(f"/history?org={acme['id']}").get_data(as_text=True),
        client.get(f"/history.csv?org={acme['id']}").get_data(as_text=True),
        client.get(f"/account/credits?org={acme['id']}").get_data(as_text=True),
        client.get(f"/history/usage?org={acme['id']}&group_by=feature").get_data(as_text=True),
    ]
    globex = client.get(f"/history?org={acme['globex']}").get_data(as_text=True)

    for page in pages:
        assert "globex-secret" not in page and "globex money" not in page and "13" not in amounts(page)
    assert amounts(globex) == ["-13", "+100"]
    with db.engine.connect() as conn:
        spent = conn.execute(
            sa.select(sa.func.sum(CreditSpend.credits_spent)).where(
                CreditSpend.wallet_id == acme["wallet_id"]
            )
        ).scalar_one()
    assert spent == 23


def test_a_member_sees_the_organizations_expired_credits(client, acme, sign_in_as):
    granted = ledger.grant(
        acme["owner"],
        30,
        note="spring promo",
        wallet_id=acme["wallet_id"],
        expires_at=utcnow() + timedelta(days=1),
    )
    db.session.execute(
        sa.update(CreditLot)
        .where(CreditLot.id == granted.lot_id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()

    assert [e.wallet_id for e in ledger.expire_lots()] == [acme["wallet_id"]]
    sign_in_as(client, acme["member"])
    page = client.get(f"/history?org={acme['id']}").get_data(as_text=True)

    assert amounts(page) == ["-30", "+30", "-7", "+200"]
    assert "Expired: 30 credits of the grant “spring promo”" in page
    assert ledger.audit() == []


def test_the_expiry_line_beside_the_badge_is_the_contexts(client, acme, sign_in_as):
    ledger.grant(
        acme["owner"],
        30,
        note="spring promo",
        wallet_id=acme["wallet_id"],
        expires_at=utcnow() + timedelta(days=2),
    )
    sign_in_as(client, acme["member"])
    org_page = client.get(f"/history?org={acme['id']}").get_data(as_text=True)
    own_page = client.get("/history").get_data(as_text=True)
    line = client.get(f"/account/credits/expiring?org={acme['id']}").get_data(as_text=True)

    assert 'id="credits-expiring"' in org_page and f'href="/account/credits?org={acme["id"]}"' in org_page
    assert "30 credits expire" in line and f'hx-get="/account/credits/expiring?org={acme["id"]}"' in line
    assert 'id="credits-expiring"' not in own_page


def test_owners_and_admins_see_usage_by_member(client, acme, sign_in_as):
    admin_key, _, _ = key_for(acme["admin"], acme["wallet_id"], name="admin org key")
    member_key, _, _ = key_for(acme["member"], acme["wallet_id"], name="member org key")

    rows = client.get("/api/usage?group_by=member", headers=bearer(admin_key)).get_json()["rows"]
    own = client.get("/api/usage?group_by=member", headers=bearer(member_key)).get_json()["rows"]
    sign_in_as(client, acme["owner"])
    page = client.get(f"/history/usage?org={acme['id']}&group_by=member").get_data(as_text=True)
    sign_in_as(client, acme["member"])
    member_page = client.get(f"/history/usage?org={acme['id']}").get_data(as_text=True)

    assert [(row["key"], row["label"], row["credits"]) for row in rows] == [
        ("adam@example.com", "Adam Admin <adam@example.com>", 11),
        ("mia@example.com", "Mia Member <mia@example.com>", 7),
        ("olive@example.com", "Olive Owner <olive@example.com>", 5),
    ]
    assert [(row["key"], row["credits"]) for row in own] == [("mia@example.com", 7)]
    assert "Credits spent by member" in page and "Mia Member &lt;mia@example.com&gt;" in page
    assert '<option value="member"' in page and '<option value="member"' not in member_page
