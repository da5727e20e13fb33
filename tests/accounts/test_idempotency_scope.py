"""An Idempotency-Key replays only for the API key (or browser sign-in) that first used it."""

from __future__ import annotations

import requests

from tests.accounts.conftest import bearer
from tests.support.spending import balance, spends

CRANE = {"prompt": "a paper crane", "size": 256}  # 5 credits


def _spend(api: str, token: str, key: str, body=CRANE) -> requests.Response:
    headers = {**bearer(token), "Idempotency-Key": key}
    return requests.post(f"{api}/api/features/image", json=body, headers=headers, timeout=30)


def test_another_keys_idempotency_key_is_a_new_spend_never_that_keys_job(api, make_user, new_key):
    user = make_user(credits=100)
    owner = new_key(user, scopes=("spend",), name="owner")
    intruder = new_key(user, scopes=("spend",), name="intruder")
    theirs = _spend(api, owner, "order-7")
    assert theirs.status_code == 202

    mine = _spend(api, intruder, "order-7")

    # A new spend of the intruder's own: never the owner's job, which it may not read.
    assert mine.status_code == 202, mine.text
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in mine.headers
    direct = requests.get(f"{api}/api/jobs/{theirs.json()['id']}", headers=bearer(intruder), timeout=10)
    assert direct.status_code == 403
    assert [s.credits_spent for s in spends(user)] == [5, 5]
    assert balance(user) == 90
    # Each key still replays its own request, and only its own.
    again = _spend(api, owner, "order-7")
    assert again.status_code == 202 and again.json()["id"] == theirs.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _spend(api, intruder, "order-7").json()["id"] == mine.json()["id"]
    assert balance(user) == 90


def test_a_browser_sessions_key_is_not_replayed_by_an_api_key(api, make_user, new_key, browser_session):
    user = make_user(credits=100)
    http, csrf = browser_session(user, api)
    from_browser = http.post(
        f"{api}/api/features/image",
        json=CRANE,
        headers={"X-CSRFToken": csrf, "Idempotency-Key": "tab-1"},
        timeout=30,
    )
    assert from_browser.status_code == 202

    from_key = _spend(api, new_key(user, scopes=("spend",)), "tab-1")

    assert from_key.status_code == 202
    assert from_key.json()["id"] != from_browser.json()["id"]
    assert balance(user) == 90
