"""Idempotency keys on paid features: one charge per key, bound to one request."""

from __future__ import annotations

from creditapp.features import image_providers
from tests.support import spending
from tests.support.spending import (
    BrokenProvider,
    balance,
    post_json,
    spends,
)

# The fixtures, shared by the feature test modules.
signed_in = spending.signed_in
broken_provider = spending.broken_provider


# --- idempotency -----------------------------------------------------------------------


def test_the_same_idempotency_key_twice_charges_once(signed_in):
    client, user_id, token = signed_in()
    body = {"prompt": "a paper crane", "size": 256}

    first = post_json(client, token, body, key="order-42")
    second = post_json(client, token, body, key="order-42")

    assert first.status_code == second.status_code == 200
    assert first.get_json()["spend_id"] == second.get_json()["spend_id"]
    assert first.get_json()["image"] == second.get_json()["image"]
    assert second.get_json()["replayed"] is True and second.headers["Idempotent-Replayed"] == "true"
    assert len(spends(user_id)) == 1
    assert balance(user_id) == 495


def test_replaying_a_failed_request_charges_nothing(signed_in, app, monkeypatch):
    client, user_id, token = signed_in()
    body = {"prompt": "a comet", "size": 512}
    monkeypatch.setitem(image_providers.PROVIDERS, "broken", lambda config: BrokenProvider())
    monkeypatch.setitem(app.config, "IMAGE_PROVIDER", "broken")
    failed = post_json(client, token, body, key="k-1")
    monkeypatch.setitem(app.config, "IMAGE_PROVIDER", "local")

    replay = post_json(client, token, body, key="k-1")

    assert failed.status_code == replay.status_code == 502
    assert replay.get_json()["spend_id"] == failed.get_json()["spend_id"]
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

    assert first.status_code == 200
    assert response.status_code == 409
    assert response.get_json()["error"] == "idempotency_key_reused"
    assert "image" not in response.get_json()
    assert len(spends(user_id)) == 1
    assert balance(user_id) == 495
