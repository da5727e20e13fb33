"""Organization API keys (DESIGN §19): made by owners and admins in the organization's context,
they spend from its wallet under their maker's member limit and their own limit, act only
on that wallet, and die the moment their maker stops being a member."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from creditapp import ledger, teams
from creditapp.accounts import api_keys
from creditapp.extensions import db
from creditapp.models import ApiKey, CreditSpend, FeatureJob, Membership, Wallet
from tests.accounts.conftest import bearer

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
KEY_IN_PAGE = re.compile(r'value="(ca_test_[0-9a-f]{12}_[A-Za-z0-9]{40})"')
IMAGE = {"prompt": "a paper crane", "size": 256}  # costs 5 credits
IMAGE_COST = 5


def join(org_id: int, owner: int, email: str, user_id: int, role: str) -> None:
    _, token = teams.invite(org_id, owner, email, role)
    teams.accept(token, user_id)


@pytest.fixture
def acme(make_user):
    """Acme (200 credits) with an owner, an admin and a plain member; Globex (50 credits), whose
    owner is in no other organization; and an outsider. Everyone has 100 credits of their own."""
    people = {
        name: make_user(f"{name}@example.com", credits=100)
        for name in ("owner", "admin", "member", "globex_owner", "outsider")
    }
    org_id = teams.create_organization(people["owner"], "Acme")
    wallet_id = teams.organization_for(org_id, people["owner"]).wallet_id
    ledger.grant(people["owner"], 200, note="funding", wallet_id=wallet_id)
    join(org_id, people["owner"], "admin@example.com", people["admin"], "admin")
    join(org_id, people["owner"], "member@example.com", people["member"], "member")
    globex_id = teams.create_organization(people["globex_owner"], "Globex")
    globex_wallet = teams.organization_for(globex_id, people["globex_owner"]).wallet_id
    ledger.grant(people["globex_owner"], 50, note="funding", wallet_id=globex_wallet)
    return SimpleNamespace(
        id=org_id, wallet_id=wallet_id, globex_id=globex_id, globex_wallet=globex_wallet, **people
    )


def org_key(org_id: int, user_id: int, scopes=("spend", "read"), limit: int | None = None) -> str:
    return api_keys.create_key(user_id, "org script", list(scopes), limit, org_id=org_id).token


def personal_key(user_id: int, scopes=("spend", "read")) -> str:
    return api_keys.create_key(user_id, "own script", list(scopes), None).token


def wallet_balance(wallet_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(Wallet.balance).where(Wallet.id == wallet_id)).scalar_one()


def spends_of(wallet_id: int) -> list[tuple[int, int | None, int]]:
    """(user, key, credits) of every spend from the wallet."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(CreditSpend.user_id, CreditSpend.api_key_id, CreditSpend.credits_spent)
            .where(CreditSpend.wallet_id == wallet_id)
            .order_by(CreditSpend.id)
        ).all()
    return [tuple(row) for row in rows]


def written() -> tuple:
    """Every row a refused request must not touch: keys (and which are revoked), spends, jobs,
    memberships, and every wallet's balance."""
    with db.engine.connect() as conn:
        count = lambda model: conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()  # noqa: E731
        return (
            count(ApiKey),
            conn.execute(sa.select(sa.func.count()).where(ApiKey.revoked_at.is_not(None))).scalar_one(),
            count(CreditSpend),
            count(FeatureJob),
            count(Membership),
            tuple(conn.execute(sa.select(Wallet.id, Wallet.balance).order_by(Wallet.id)).all()),
        )


def csrf_of(client) -> str:
    return CSRF_META.search(client.get("/").get_data(as_text=True)).group(1)


# --- the keys page in an organization's context ------------------------------------------------


def test_an_admin_makes_an_org_key_on_the_page_shown_once_and_listed_with_its_maker(client, acme, sign_in_as):
    sign_in_as(client, acme.admin)
    page = client.get(f"/account/api-keys?org={acme.id}").get_data(as_text=True)
    assert "API keys of Acme" in page and f'name="org" value="{acme.id}"' in page
    csrf = CSRF_META.search(page).group(1)

    made = client.post(
        "/account/api-keys",
        data={"csrf_token": csrf, "org": str(acme.id), "name": "ci", "scopes": ["spend", "read"]},
    )
    assert made.status_code == 303 and made.headers["Location"].endswith(f"/account/api-keys?org={acme.id}")
    assert KEY_IN_PAGE.search(client.get("/account/api-keys").get_data(as_text=True)) is None  # another tab
    shown = client.get(made.headers["Location"]).get_data(as_text=True)
    token = KEY_IN_PAGE.search(shown).group(1)
    assert "spend Acme’s credits" in shown

    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(ApiKey.user_id, ApiKey.wallet_id).where(ApiKey.prefix == token[:20])
        ).one()
    assert tuple(row) == (acme.admin, acme.wallet_id)
    again = client.get(f"/account/api-keys?org={acme.id}").get_data(as_text=True)
    assert token not in again and token[:20] in again and "admin@example.com" in again  # who made it
    assert f'<option value="{acme.id}" selected>Acme</option>' in again  # the switcher shows the context
    assert re.search(rf'href="/account/api-keys/\d+/revoke\?org={acme.id}"', again)  # links keep it
    assert token[:20] not in client.get("/account/api-keys").get_data(as_text=True)  # not a personal key
    sign_in_as(client, acme.owner)  # every owner and admin sees every key of the organization
    assert token[:20] in client.get(f"/account/api-keys?org={acme.id}").get_data(as_text=True)


def test_the_personal_page_lists_and_revokes_only_personal_keys(client, acme, sign_in_as):
    own = personal_key(acme.admin)
    org_token = org_key(acme.id, acme.admin)
    with db.engine.connect() as conn:
        org_key_id = conn.execute(sa.select(ApiKey.id).where(ApiKey.prefix == org_token[:20])).scalar_one()
    sign_in_as(client, acme.admin)
    personal_page = client.get("/account/api-keys").get_data(as_text=True)
    assert own[:20] in personal_page and org_token[:20] not in personal_page
    before = written()

    assert client.get(f"/account/api-keys/{org_key_id}/revoke").status_code == 404
    refused = client.post(f"/account/api-keys/{org_key_id}/revoke", data={"csrf_token": csrf_of(client)})

    assert refused.status_code == 404 and written() == before


def test_an_owner_revokes_a_key_an_admin_made_and_it_stops_at_once(client, acme, sign_in_as):
    token = org_key(acme.id, acme.admin)
    with db.engine.connect() as conn:
        key_id = conn.execute(sa.select(ApiKey.id).where(ApiKey.prefix == token[:20])).scalar_one()
    sign_in_as(client, acme.owner)
    confirm = client.get(f"/account/api-keys/{key_id}/revoke?org={acme.id}").get_data(as_text=True)
    assert "of Acme" in confirm and f'name="org" value="{acme.id}"' in confirm

    done = client.post(
        f"/account/api-keys/{key_id}/revoke", data={"csrf_token": csrf_of(client), "org": str(acme.id)}
    )

    assert done.status_code == 303 and done.headers["Location"].endswith(f"?org={acme.id}")
    assert client.get("/api/user/credits", headers=bearer(token)).status_code == 401


# --- spending ---------------------------------------------------------------------------------


def test_an_org_key_spends_from_the_organizations_wallet_and_reads_its_balance(client, acme):
    token = org_key(acme.id, acme.admin)

    spent = client.post("/api/features/image", json=IMAGE, headers=bearer(token))

    assert spent.status_code == 202, spent.get_data(as_text=True)
    assert wallet_balance(acme.wallet_id) == 200 - IMAGE_COST
    assert ledger.balance(acme.admin).credits == 100  # the maker's own credits untouched
    assert [(user, credits) for user, _, credits in spends_of(acme.wallet_id)] == [(acme.admin, IMAGE_COST)]
    balance = client.get("/api/user/credits", headers=bearer(token)).get_json()
    assert (balance["credits"], balance["held"]) == (200 - IMAGE_COST, IMAGE_COST)
    assert client.get(f"/api/user/credits?org={acme.id}", headers=bearer(token)).get_json()["credits"] == 195
    assert ledger.audit() == []


def test_an_org_key_spends_within_its_makers_member_limit(client, acme):
    teams.set_member_limit(acme.id, acme.owner, acme.admin, 7)
    token = org_key(acme.id, acme.admin)
    assert client.post("/api/features/image", json=IMAGE, headers=bearer(token)).status_code == 202
    before = written()

    refused = client.post("/api/features/image", json=IMAGE, headers=bearer(token))

    assert refused.status_code == 402
    assert refused.get_json() | {"message": ""} == {
        "error": "member_limit_reached",
        "message": "",
        "limit": 7,
        "spent": IMAGE_COST,
        "required": IMAGE_COST,
    }
    assert written() == before


def test_an_org_key_spends_within_its_own_limit(client, acme):
    token = org_key(acme.id, acme.admin, limit=7)
    assert client.post("/api/features/image", json=IMAGE, headers=bearer(token)).status_code == 202
    before = written()

    refused = client.post("/api/features/image", json=IMAGE, headers=bearer(token))

    assert refused.status_code == 402 and refused.get_json()["error"] == "key_limit_reached"
    assert (refused.get_json()["limit"], refused.get_json()["spent"]) == (7, IMAGE_COST)
    assert written() == before


def test_a_personal_key_spends_only_the_personal_wallet(client, acme):
    token = personal_key(acme.admin)

    assert client.post("/api/features/image", json=IMAGE, headers=bearer(token)).status_code == 202

    assert ledger.balance(acme.admin).credits == 100 - IMAGE_COST
    assert wallet_balance(acme.wallet_id) == 200
    assert client.get("/api/user/credits", headers=bearer(token)).get_json()["credits"] == 95


@pytest.mark.parametrize("where", ["query", "body"])
def test_a_session_names_the_organization_to_spend_from_as_pages_do(client, acme, sign_in_as, where):
    sign_in_as(client, acme.member)
    csrf = csrf_of(client)
    if where == "query":
        url, body = f"/api/features/image?org={acme.id}", IMAGE
    else:
        url, body = "/api/features/image", {**IMAGE, "org": acme.id}

    spent = client.post(url, json=body, headers={"X-CSRFToken": csrf})

    assert spent.status_code == 202, spent.get_data(as_text=True)
    assert wallet_balance(acme.wallet_id) == 195 and ledger.balance(acme.member).credits == 100
    credits = client.get(f"/api/user/credits?org={acme.id}").get_json()
    assert credits["credits"] == 195
    assert client.get("/api/user/credits").get_json()["credits"] == 100


def test_a_sessions_idempotency_key_replays_only_in_the_wallet_it_was_spent_from(client, acme, sign_in_as):
    sign_in_as(client, acme.member)
    headers = {"X-CSRFToken": csrf_of(client), "Idempotency-Key": "order-7"}
    personal = client.post("/api/features/image", json=IMAGE, headers=headers)

    for_acme = client.post(f"/api/features/image?org={acme.id}", json=IMAGE, headers=headers)
    again = client.post(f"/api/features/image?org={acme.id}", json=IMAGE, headers=headers)

    assert (personal.status_code, for_acme.status_code) == (202, 202)
    assert "Idempotent-Replayed" not in for_acme.headers  # not the personal spend again
    assert for_acme.get_json()["id"] != personal.get_json()["id"]
    assert (
        again.headers["Idempotent-Replayed"] == "true" and again.get_json()["id"] == for_acme.get_json()["id"]
    )
    assert ledger.balance(acme.member).credits == 100 - IMAGE_COST
    assert wallet_balance(acme.wallet_id) == 200 - IMAGE_COST


def test_a_session_naming_two_organizations_is_refused(client, acme, sign_in_as):
    sign_in_as(client, acme.member)
    before = written()

    refused = client.post(
        f"/api/features/image?org={acme.id}",
        json={**IMAGE, "org": acme.globex_id},
        headers={"X-CSRFToken": csrf_of(client)},
    )

    assert refused.status_code == 422 and refused.get_json()["field"] == "org"
    assert written() == before


# --- removal ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["removed", "left"])
def test_a_makers_org_keys_die_the_moment_they_stop_being_a_member(client, acme, how):
    token = org_key(acme.id, acme.admin)
    own = personal_key(acme.admin)
    assert client.get("/api/user/credits", headers=bearer(token)).status_code == 200

    if how == "removed":
        teams.remove_member(acme.id, acme.owner, acme.admin)
    else:
        teams.leave(acme.id, acme.admin)

    for answer in (
        client.get("/api/user/credits", headers=bearer(token)),
        client.post("/api/features/image", json=IMAGE, headers=bearer(token)),
    ):
        assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_token"
    with db.engine.connect() as conn:
        revoked = conn.execute(sa.select(ApiKey.revoked_at).where(ApiKey.prefix == token[:20])).scalar_one()
    assert revoked is not None  # revoked in the removal's own transaction
    assert wallet_balance(acme.wallet_id) == 200
    assert client.get("/api/user/credits", headers=bearer(own)).status_code == 200  # their own key lives

    join(acme.id, acme.owner, "admin@example.com", acme.admin, "admin")  # coming back
    assert client.get("/api/user/credits", headers=bearer(token)).status_code == 401  # brings no key back


def test_a_key_whose_maker_lost_the_membership_any_other_way_is_refused_too(client, acme):
    token = org_key(acme.id, acme.admin)
    with db.engine.begin() as conn:  # a membership gone without the removal (say, by hand)
        conn.execute(sa.delete(Membership).where(Membership.user_id == acme.admin))

    answer = client.get("/api/user/credits", headers=bearer(token))

    assert answer.status_code == 401
    with db.engine.connect() as conn:
        revoked = conn.execute(sa.select(ApiKey.revoked_at).where(ApiKey.prefix == token[:20])).scalar_one()
    assert revoked is None  # not revoked: refused at authentication


def test_other_makers_keys_outlive_a_removal(client, acme):
    owners_key = org_key(acme.id, acme.owner)
    org_key(acme.id, acme.admin)

    teams.remove_member(acme.id, acme.owner, acme.admin)

    assert client.post("/api/features/image", json=IMAGE, headers=bearer(owners_key)).status_code == 202


# --- jobs -------------------------------------------------------------------------------------


def started(client, token: str) -> str:
    answer = client.post("/api/features/image", json=IMAGE, headers=bearer(token))
    assert answer.status_code == 202, answer.get_data(as_text=True)
    return answer.get_json()["id"]


def test_jobs_are_reached_only_from_the_wallet_and_by_the_person_that_started_them(client, acme, sign_in_as):
    admins_org_key = org_key(acme.id, acme.admin)
    admins_own_key = personal_key(acme.admin)
    owners_org_key = org_key(acme.id, acme.owner)
    org_job = started(client, admins_org_key)
    own_job = started(client, admins_own_key)

    assert client.get(f"/api/jobs/{org_job}", headers=bearer(admins_org_key)).status_code == 200
    assert client.get(f"/api/jobs/{own_job}", headers=bearer(admins_own_key)).status_code == 200
    # Another wallet's job is not there for a key, even its maker's own job.
    assert client.get(f"/api/jobs/{own_job}", headers=bearer(admins_org_key)).status_code == 404
    assert client.get(f"/api/jobs/{org_job}", headers=bearer(admins_own_key)).status_code == 404
    # Another member's job of the same wallet is not there either: prompts stay with who sent them.
    assert client.get(f"/api/jobs/{org_job}", headers=bearer(owners_org_key)).status_code == 404
    before = written()
    for path in (f"/api/jobs/{own_job}/cancel", f"/api/jobs/{org_job}/cancel"):
        key = admins_org_key if own_job in path else owners_org_key
        assert client.post(path, headers=bearer(key)).status_code == 404
    assert written() == before

    sign_in_as(client, acme.member)
    for path in (f"/api/jobs/{org_job}", f"/jobs/{org_job}", f"/api/jobs/{org_job}/result"):
        assert client.get(path).status_code == 404
    sign_in_as(client, acme.admin)
    assert client.get(f"/api/jobs/{org_job}").status_code == 200  # the session that started it, in any tab
    assert client.get(f"/jobs/{org_job}").status_code == 200

    canceled = client.post(f"/api/jobs/{org_job}/cancel", headers=bearer(admins_org_key))
    assert canceled.status_code == 200 and wallet_balance(acme.wallet_id) == 200


def test_a_removed_member_no_longer_reaches_the_jobs_they_started_for_the_organization(
    client, acme, sign_in_as
):
    sign_in_as(client, acme.member)
    spent = client.post(
        f"/api/features/image?org={acme.id}", json=IMAGE, headers={"X-CSRFToken": csrf_of(client)}
    )
    job_id = spent.get_json()["id"]
    assert client.get(f"/jobs/{job_id}").status_code == 200

    teams.remove_member(acme.id, acme.owner, acme.member)

    for path in (f"/api/jobs/{job_id}", f"/jobs/{job_id}", f"/jobs/{job_id}/partial"):
        assert client.get(path).status_code == 404
    before = written()
    canceled = client.post(f"/api/jobs/{job_id}/cancel", headers={"X-CSRFToken": csrf_of(client)})
    assert canceled.status_code == 404
    assert written() == before
