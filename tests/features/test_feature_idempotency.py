"""Idempotency keys on paid features: one job and one charge per key, bound to one request."""

from __future__ import annotations

import re

from creditapp import ledger
from creditapp.features.image import providers as image_providers
from tests.support import spending
from tests.support.jobs import queued_messages, run_queued
from tests.support.spending import (
    BrokenProvider,
    balance,
    fetch_result,
    post_json,
    spends,
)
from tests.support.threads import race

# The fixtures, shared by the feature test modules.
signed_in = spending.signed_in
broken_provider = spending.broken_provider


def test_the_same_key_while_the_job_runs_answers_202_with_the_same_job(signed_in, app):
    client, user_id, token = signed_in()
    body = {"prompt": "a paper crane", "size": 256}

    first = post_json(client, token, body, key="order-41")
    second = post_json(client, token, body, key="order-41")

    assert first.status_code == second.status_code == 202
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert queued_messages(app) == 1
    assert len(spends(user_id)) == 1 and balance(user_id) == 495


def test_the_same_key_after_the_job_ended_answers_200_with_its_result(signed_in, app):
    client, user_id, token = signed_in()
    body = {"prompt": "a paper crane", "size": 256}
    first = post_json(client, token, body, key="order-42")
    run_queued(app)

    again = post_json(client, token, body, key="order-42")

    assert again.status_code == 200
    job = again.get_json()
    assert job["id"] == first.get_json()["id"] and job["status"] == "succeeded"
    assert fetch_result(client, job).size == (256, 256)
    assert queued_messages(app) == 0
    assert [s.status for s in spends(user_id)] == ["captured"]
    assert balance(user_id) == 495


def test_six_requests_with_one_key_at_once_make_one_job_and_one_charge(signed_in, app):
    client, user_id, token = signed_in()
    body = {"prompt": "a paper crane", "size": 512}
    clients = [app.test_client() for _ in range(6)]
    for other in clients:
        with client.session_transaction() as source, other.session_transaction() as target:
            target.update(source)

    answers = race(app, lambda i: post_json(clients[i], token, body, key="same-key"), 6)

    assert sorted(a.status_code for a in answers) == [202] * 6
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert queued_messages(app) == 1
    assert len(spends(user_id)) == 1 and balance(user_id) == 490
    assert ledger.audit() == []


def test_replaying_a_failed_request_charges_nothing(signed_in, app, monkeypatch):
    client, user_id, token = signed_in()
    body = {"prompt": "a comet", "size": 512}
    monkeypatch.setitem(image_providers.PROVIDERS, "broken", lambda config: BrokenProvider())
    monkeypatch.setitem(app.config, "IMAGE_PROVIDER", "broken")
    failed = post_json(client, token, body, key="k-1")
    run_queued(app)
    monkeypatch.setitem(app.config, "IMAGE_PROVIDER", "local")

    replay = post_json(client, token, body, key="k-1")

    assert replay.status_code == 200
    assert replay.get_json()["id"] == failed.get_json()["id"]
    assert replay.get_json()["status"] == "failed" and replay.get_json()["error"]["code"] == "provider_error"
    assert queued_messages(app) == 0
    assert [s.status for s in spends(user_id)] == ["released"]
    assert balance(user_id) == 500


def test_a_key_reused_for_a_different_price_is_refused(signed_in):
    client, user_id, token = signed_in()
    post_json(client, token, {"prompt": "a comet", "size": 256}, key="k-2")

    response = post_json(client, token, {"prompt": "a comet", "size": 1024}, key="k-2")

    assert response.status_code == 409
    assert response.get_json()["error"] == "idempotency_key_reused"
    assert balance(user_id) == 495


def test_a_key_reused_for_a_different_prompt_at_the_same_price_is_refused(signed_in):
    client, user_id, token = signed_in()
    first = post_json(client, token, {"prompt": "a comet", "size": 256}, key="k-3")

    response = post_json(client, token, {"prompt": "a different comet", "size": 256}, key="k-3")

    assert first.status_code == 202
    assert response.status_code == 409
    assert response.get_json()["error"] == "idempotency_key_reused"
    assert "id" not in response.get_json()
    assert len(spends(user_id)) == 1
    assert balance(user_id) == 495


def _form_key(client) -> str:
    html = client.get("/features/image").get_data(as_text=True)
    return re.search(r'name="form_key" value="([^"]+)"', html).group(1)


def test_a_form_sent_twice_without_javascript_starts_one_job(signed_in, app):
    client, user_id, token = signed_in()
    form = {"csrf_token": token, "prompt": "a paper crane", "size": "256", "form_key": _form_key(client)}

    first = client.post("/features/image", data=form)
    second = client.post("/features/image", data=form)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert queued_messages(app) == 1
    assert len(spends(user_id)) == 1 and balance(user_id) == 495


def test_each_rendered_form_and_each_changed_request_is_a_new_image(signed_in, app):
    client, user_id, token = signed_in()
    key = _form_key(client)
    form = {"csrf_token": token, "prompt": "a paper crane", "size": "256", "form_key": key}

    first = client.post("/features/image", data=form)
    changed = client.post("/features/image", data={**form, "prompt": "two paper cranes"})
    fresh = client.post("/features/image", data={**form, "form_key": _form_key(client)})

    assert _form_key(client) != key
    assert len({first.headers["Location"], changed.headers["Location"], fresh.headers["Location"]}) == 3
    assert len(spends(user_id)) == 3 and balance(user_id) == 485


def test_a_keyed_replay_after_the_balance_is_used_up_returns_the_original_job(signed_in, app):
    client, user_id, token = signed_in(credits=5)
    body = {"prompt": "a paper crane", "size": 256}
    first = post_json(client, token, body, key="last-5")
    assert balance(user_id) == 0

    while_queued = post_json(client, token, body, key="last-5")
    run_queued(app)
    once_ended = post_json(client, token, body, key="last-5")

    assert while_queued.status_code == 202  # the original job, not a 402 for the empty balance
    assert once_ended.status_code == 200
    assert while_queued.get_json()["id"] == once_ended.get_json()["id"] == first.get_json()["id"]
    assert once_ended.get_json()["status"] == "succeeded"
    assert [s.status for s in spends(user_id)] == ["captured"] and balance(user_id) == 0
