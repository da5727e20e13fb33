"""Every route of an organization's keys, and every API answer an organization key reaches,
probed by everyone who must not get through: signed out, a non-member, a plain member, a
removed member, another organization's owner and key, a personal key naming the
organization. Each refusal leaks nothing of the organization and writes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from creditapp import teams
from creditapp.extensions import db
from creditapp.models import ApiKey
from tests.accounts.conftest import bearer
from tests.teams.test_org_keys import (  # noqa: F401 (acme is a fixture)
    CSRF_META,
    IMAGE,
    acme,
    csrf_of,
    join,
    org_key,
    personal_key,
    written,
)


@pytest.fixture
def probed(request, make_user, client):
    """Acme with a key its admin made and a job that key started, and a former admin (removed)
    whose session and key are probed too."""
    org = request.getfixturevalue("acme")
    former = make_user("former@example.com", credits=100)
    join(org.id, org.owner, "former@example.com", former, "admin")
    org.former = former
    org.former_key = org_key(org.id, former)
    org.key = org_key(org.id, org.admin)
    with db.engine.connect() as conn:
        org.key_id = conn.execute(sa.select(ApiKey.id).where(ApiKey.prefix == org.key[:20])).scalar_one()
    started = client.post("/api/features/image", json=IMAGE, headers=bearer(org.key))
    assert started.status_code == 202
    org.job = started.get_json()["id"]
    teams.remove_member(org.id, org.owner, former)
    return org


def page_routes(org):
    """(method, path, form) of every page of the organization's keys."""
    return [
        ("GET", f"/account/api-keys?org={org.id}", None),
        ("POST", "/account/api-keys", {"org": str(org.id), "name": "intruder", "scopes": ["spend"]}),
        ("GET", f"/account/api-keys/{org.key_id}/revoke?org={org.id}", None),
        ("POST", f"/account/api-keys/{org.key_id}/revoke", {"org": str(org.id)}),
    ]


def call(client, method: str, path: str, form: dict | None):
    if method == "GET":
        return client.get(path)
    token = CSRF_META.search(client.get("/").get_data(as_text=True)).group(1)
    return client.post(path, data={"csrf_token": token, **(form or {})})


def assert_nothing_of_acme(answer, org) -> None:
    body = answer.get_data(as_text=True)
    assert org.key[:20] not in body and "admin@example.com" not in body and "org script" not in body


@pytest.mark.parametrize("who", ["signed_out", "outsider", "former", "globex_owner"])
def test_the_organizations_key_pages_are_not_there_for_anyone_outside_it(client, probed, sign_in_as, who):
    if who != "signed_out":
        sign_in_as(client, getattr(probed, who))
    for method, path, form in page_routes(probed):
        before = written()
        answer = call(client, method, path, form)
        expected = (302,) if who == "signed_out" else (404,)
        assert answer.status_code in expected, (method, path, answer.status_code)
        assert_nothing_of_acme(answer, probed)
        assert "Acme" not in answer.get_data(as_text=True)
        assert written() == before


def test_a_plain_member_sees_who_manages_keys_but_not_the_keys_and_may_not_make_or_revoke_them(
    client, probed, sign_in_as
):
    sign_in_as(client, probed.member)
    index, create, confirm, revoke = page_routes(probed)

    page = call(client, *index)
    assert page.status_code == 200
    assert "Only the owners and admins of Acme" in page.get_data(as_text=True)
    assert_nothing_of_acme(page, probed)
    assert 'name="name"' not in page.get_data(as_text=True)  # no form to make one
    for route in (create, confirm, revoke):
        before = written()
        answer = call(client, *route)
        assert answer.status_code == 403, route
        assert_nothing_of_acme(answer, probed)
        assert written() == before


def test_another_organizations_owner_cannot_revoke_a_key_through_their_own_organization(
    client, probed, sign_in_as
):
    sign_in_as(client, probed.globex_owner)
    before = written()

    confirm = client.get(f"/account/api-keys/{probed.key_id}/revoke?org={probed.globex_id}")
    revoke = call(client, "POST", f"/account/api-keys/{probed.key_id}/revoke", {"org": str(probed.globex_id)})

    assert (confirm.status_code, revoke.status_code) == (404, 404)
    assert written() == before


def api_routes(org) -> list[tuple[str, str, dict | None]]:
    """(method, path, JSON body) of every API answer an organization key reaches."""
    return [
        ("GET", f"/api/user/credits?org={org.id}", None),
        ("POST", f"/api/features/image?org={org.id}", IMAGE),
        ("POST", "/api/features/image", {**IMAGE, "org": org.id}),
        ("GET", f"/api/jobs/{org.job}?org={org.id}", None),
        ("GET", f"/api/jobs/{org.job}/result?org={org.id}", None),
        ("POST", f"/api/jobs/{org.job}/cancel?org={org.id}", None),
    ]


def api_call(client, method: str, path: str, body: dict | None, headers: dict):
    if method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, json=body, headers=headers)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("signed_out", 401),
        ("outsider_session", 404),
        ("former_session", 404),
        ("former_key", 401),
        ("outsiders_key", 403),
        ("members_personal_key", 403),
        ("globex_key", 403),
    ],
)
def test_no_api_answer_of_the_organization_reaches_anyone_outside_it(client, probed, sign_in_as, who, status):
    headers: dict[str, str] = {}
    if who.endswith("_session"):
        sign_in_as(client, probed.outsider if who == "outsider_session" else probed.former)
        headers = {"X-CSRFToken": csrf_of(client)}
    elif who == "former_key":
        headers = bearer(probed.former_key)
    elif who == "outsiders_key":
        headers = bearer(personal_key(probed.outsider))
    elif who == "members_personal_key":  # a member of Acme, but the key is their own: never Acme's credits
        headers = bearer(personal_key(probed.member))
    elif who == "globex_key":
        headers = bearer(org_key(probed.globex_id, probed.globex_owner))
    for method, path, body in api_routes(probed):
        before = written()
        answer = api_call(client, method, path, body, headers)
        assert answer.status_code == status, (method, path, answer.get_data(as_text=True))
        assert answer.is_json and answer.get_json()["error"]
        text = answer.get_data(as_text=True)
        assert '"credits"' not in text and "paper crane" not in text and "Acme" not in text
        assert written() == before
        if status == 403:
            assert answer.get_json()["error"] == "wrong_wallet"
    if status == 403:  # not even marked used
        prefix = headers["Authorization"].removeprefix("Bearer ")[:20]
        with db.engine.connect() as conn:
            used = conn.execute(sa.select(ApiKey.last_used_at).where(ApiKey.prefix == prefix)).scalar_one()
        assert used is None


def test_another_organizations_key_reaches_only_its_own_wallet(client, probed):
    globex_key = org_key(probed.globex_id, probed.globex_owner)
    before = written()

    credits = client.get("/api/user/credits", headers=bearer(globex_key)).get_json()
    job = client.get(f"/api/jobs/{probed.job}", headers=bearer(globex_key))
    canceled = client.post(f"/api/jobs/{probed.job}/cancel", headers=bearer(globex_key))

    assert credits["credits"] == 50  # Globex's, not Acme's
    assert (job.status_code, canceled.status_code) == (404, 404)
    assert written() == before
