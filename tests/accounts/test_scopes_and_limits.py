"""Scopes, the monthly limit under racing spends, and one user's key against another's jobs."""

from __future__ import annotations

import threading

import requests
import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditSpend
from tests.accounts.conftest import bearer
from tests.support.jobs import run_queued

CRANE = {"prompt": "a paper crane", "size": 256}  # 5 credits


def _spend(api: str, token: str, body=CRANE, **headers) -> requests.Response:
    return requests.post(
        f"{api}/api/features/image", json=body, headers={**bearer(token), **headers}, timeout=30
    )


def test_a_read_key_reads_everything_and_spends_nothing(api, make_user, new_key):
    user = make_user(credits=100)
    spender = new_key(user, scopes=("spend",))
    reader = new_key(user, scopes=("read",))
    job = _spend(api, spender).json()
    refused = _spend(api, reader)
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert requests.get(f"{api}/api/user/credits", headers=bearer(reader), timeout=10).json()["credits"] == 95
    assert requests.get(f"{api}/api/jobs/{job['id']}", headers=bearer(reader), timeout=10).status_code == 200
    cancel = requests.post(f"{api}/api/jobs/{job['id']}/cancel", headers=bearer(reader), timeout=10)
    assert cancel.status_code == 403
    assert db.session.execute(sa.select(sa.func.count()).select_from(CreditSpend)).scalar_one() == 1


def test_a_spend_key_reaches_only_the_jobs_it_started(api, app, make_user, new_key):
    user = make_user(credits=100)
    first = new_key(user, scopes=("spend",), name="first")
    second = new_key(user, scopes=("spend",), name="second")
    mine = _spend(api, first).json()
    theirs = _spend(api, second).json()
    assert requests.get(f"{api}/api/user/credits", headers=bearer(first), timeout=10).status_code == 403
    assert requests.get(f"{api}/api/jobs/{mine['id']}", headers=bearer(first), timeout=10).status_code == 200
    assert (
        requests.get(f"{api}/api/jobs/{theirs['id']}", headers=bearer(first), timeout=10).status_code == 403
    )
    assert (
        requests.post(f"{api}/api/jobs/{theirs['id']}/cancel", headers=bearer(first), timeout=10).status_code
        == 403
    )
    canceled = requests.post(f"{api}/api/jobs/{mine['id']}/cancel", headers=bearer(first), timeout=10)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    run_queued(app)  # the other job runs and stores its image
    image = requests.get(f"{api}/api/jobs/{theirs['id']}/result.png", headers=bearer(second), timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert (
        requests.get(
            f"{api}/api/jobs/{theirs['id']}/result.png", headers=bearer(first), timeout=10
        ).status_code
        == 403
    )


def test_forty_racing_spends_never_pass_a_thirty_credit_monthly_limit(api, make_user, new_key):
    user = make_user(credits=1000)
    token = new_key(user, limit=30)
    barrier = threading.Barrier(40)
    answers: list[requests.Response] = [None] * 40  # type: ignore[list-item]

    def spend(i: int) -> None:
        barrier.wait(timeout=30)
        answers[i] = _spend(api, token)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(202) == 6 and statuses.count(402) == 34, statuses
    refusal = next(answer.json() for answer in answers if answer.status_code == 402)
    assert refusal["error"] == "key_limit_reached"
    assert refusal["limit"] == 30 and refusal["required"] == 5 and refusal["spent"] in (25, 30)
    spent = db.session.execute(
        sa.select(sa.func.sum(CreditSpend.credits_spent)).where(CreditSpend.status.in_(("held", "captured")))
    ).scalar_one()
    assert spent == 30
    balance = requests.get(f"{api}/api/user/credits", headers=bearer(token), timeout=10).json()
    assert (balance["credits"], balance["held"]) == (970, 30)


def test_a_released_spend_no_longer_counts_against_the_limit(api, make_user, new_key):
    token = new_key(make_user(credits=100), limit=10)
    first = _spend(api, token).json()
    assert _spend(api, token).status_code == 202
    assert _spend(api, token).json()["spent"] == 10
    requests.post(f"{api}/api/jobs/{first['id']}/cancel", headers=bearer(token), timeout=10)
    assert _spend(api, token).status_code == 202


def test_a_repeated_idempotency_key_answers_with_its_job_even_at_the_limit(api, make_user, new_key):
    token = new_key(make_user(credits=100), limit=5)
    first = _spend(api, token, **{"Idempotency-Key": "order-1"})
    again = _spend(api, token, **{"Idempotency-Key": "order-1"})
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_one_users_key_never_reaches_another_users_jobs(api, app, make_user, new_key):
    alice, bob = make_user(credits=100), make_user(credits=100)
    alice_key, bob_key = new_key(alice), new_key(bob)
    job = _spend(api, alice_key).json()
    run_queued(app)
    for method, path in (
        ("GET", f"/api/jobs/{job['id']}"),
        ("GET", f"/api/jobs/{job['id']}/result.png"),
        ("POST", f"/api/jobs/{job['id']}/cancel"),
    ):
        answer = requests.request(method, f"{api}{path}", headers=bearer(bob_key), timeout=10)
        assert answer.status_code == 404, (path, answer.status_code)
    assert requests.get(f"{api}/api/jobs/{job['id']}", headers=bearer(alice_key), timeout=10).json()[
        "status"
    ] == ("succeeded")
