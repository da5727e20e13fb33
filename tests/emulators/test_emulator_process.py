"""Starting and stopping the emulators, as a process and embedded."""

from __future__ import annotations

import requests

from emulators import create_app
from tests.support.emulator import EmulatorProcess


def test_the_process_prints_its_url_and_stops_cleanly_on_sigterm():
    with EmulatorProcess() as process:
        health = requests.get(f"{process.base_url}/_emulator/health", timeout=5)

        exit_code = process.stop()

        assert health.json()["status"] == "ok"
        assert exit_code == 0
        log = process.log_text()
        assert process.base_url in log and "Emulators stopped." in log


def test_create_app_embeds_the_emulators_with_explicit_settings():
    app = create_app({"webhooks_enabled": False, "google_client_id": "embedded-client"})
    try:
        client = app.test_client()

        prices = client.get("/v1/prices", headers={"Authorization": "Bearer sk_test_embedded"})
        unauthenticated = client.get("/v1/prices")
        config = client.get("/_emulator/config").get_json()
        authorize = client.get(
            "/google/o/oauth2/v2/auth?client_id=embedded-client&response_type=code"
            "&scope=openid&redirect_uri=http://127.0.0.1:5000/auth/callback"
        )
    finally:
        app.extensions["emulator"].close()

    assert len(prices.get_json()["data"]) == 3
    assert unauthenticated.status_code == 401
    assert config["webhooks_enabled"] is False
    assert authorize.status_code == 200 and b">Sign in</button>" in authorize.data


def test_unknown_stripe_routes_answer_in_stripe_shape(emulator):
    response = requests.get(
        f"{emulator.base_url}/v1/no_such_thing",
        headers={"Authorization": "Bearer sk_test_x"},
        timeout=5,
    )

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
