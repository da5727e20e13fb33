"""Image providers: the local drawing, and OpenAI's Images API through the stand-in (emulators/openai)."""

from __future__ import annotations

import io
import time

import pytest
import requests
from PIL import Image

from creditapp.features.image.providers import LocalImageProvider, OpenAIImageProvider, provider_for
from tests.support.jobs import run_queued
from tests.support.spending import balance, csrf_token, fetch_result, job_json, post_json, spends


@pytest.fixture
def signed_in(client, make_user, sign_in_as):
    """A signed-in client with 500 credits; returns (client, user_id, csrf token)."""
    user_id = make_user()
    sign_in_as(client, user_id)
    return client, user_id, csrf_token(client)


def test_local_pictures_are_deterministic_real_drawings():
    provider = LocalImageProvider()

    first = provider.generate("a lighthouse at dusk", 256)
    again = provider.generate("a lighthouse at dusk", 256)
    other = provider.generate("a lighthouse at dawn", 256)

    assert first == again
    assert first != other
    picture = Image.open(io.BytesIO(first)).convert("RGB")
    assert picture.size == (256, 256)
    # A gradient with shapes and text has many colours; a placeholder would have a handful.
    assert len(picture.getcolors(maxcolors=256 * 256)) > 500


def test_a_1000_character_prompt_with_words_too_long_to_wrap_still_draws():
    png = LocalImageProvider().generate("x" * 600 + " " + "word " * 80, 512)

    assert Image.open(io.BytesIO(png)).size == (512, 512)


def test_openai_is_used_only_with_a_key():
    assert isinstance(provider_for({"IMAGE_PROVIDER": "openai", "OPENAI_API_KEY": ""}), LocalImageProvider)
    chosen = provider_for(
        {"IMAGE_PROVIDER": "openai", "OPENAI_API_KEY": "sk-x", "OPENAI_API_BASE": "http://x/v1"}
    )
    assert isinstance(chosen, OpenAIImageProvider) and chosen.api_base == "http://x/v1"


# --- the OpenAI provider, against the Images stand-in -----------------------------------


def test_the_local_provider_can_take_its_time_like_a_real_api():
    started = time.monotonic()
    LocalImageProvider(delay=0.3).generate("a slow snail", 256)

    assert time.monotonic() - started >= 0.3


class ImagesStandIn:
    """Controls of the stand-in's Images API (`/_emulator/openai/…`)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.api = f"{base_url}/openai/v1"

    def configure(self, **settings) -> dict:
        response = requests.post(f"{self.base_url}/_emulator/openai/config", json=settings, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def requests_seen(self) -> list[dict]:
        return requests.get(f"{self.base_url}/_emulator/openai/requests", timeout=5).json()


@pytest.fixture
def openai_api(app, emulator, monkeypatch):
    """IMAGE_PROVIDER=openai pointed at the stand-in over HTTP, with its settings reset."""
    requests.post(f"{emulator.base_url}/_emulator/openai/reset", timeout=5).raise_for_status()
    stand_in = ImagesStandIn(emulator.base_url)
    monkeypatch.setitem(app.config, "IMAGE_PROVIDER", "openai")
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setitem(app.config, "OPENAI_API_BASE", stand_in.api)
    monkeypatch.setitem(app.config, "OPENAI_TIMEOUT_SECONDS", 2)
    return stand_in


def test_the_stand_in_shows_and_refuses_its_settings(openai_api):
    settings = openai_api.configure(latency_seconds=0.5)
    images = {key: value for key, value in settings.items() if not key.startswith("responses_")}
    assert images == {
        "latency_seconds": 0.5,
        "failure_rate": 0.0,
        "failure_status": 500,
    }
    refused = requests.post(
        f"{openai_api.base_url}/_emulator/openai/config", json={"failure_rate": 2}, timeout=5
    )

    assert refused.status_code == 400
    assert (
        requests.get(f"{openai_api.base_url}/_emulator/openai/config", timeout=5).json()["failure_rate"] == 0
    )


def test_openai_images_are_requested_with_the_key_and_charged(signed_in, app, openai_api):
    client, user_id, token = signed_in

    job_id = post_json(client, token, {"prompt": "a red fox", "size": 512}).get_json()["id"]
    run_queued(app)

    job = job_json(client, job_id)
    assert job["status"] == "succeeded"
    assert fetch_result(client, job).size == (512, 512)
    [seen] = openai_api.requests_seen()
    assert seen["authorization"] == "Bearer sk-test-openai"
    body = seen["body"]
    assert body["prompt"] == "a red fox" and body["response_format"] == "b64_json"
    assert body["model"] == "dall-e-3" and body["size"] == "1024x1024"
    assert [s.status for s in spends(user_id)] == ["captured"]
    assert balance(user_id) == 490


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"failure_rate": 1.0, "failure_status": 500}, "provider_unavailable"),
        ({"failure_rate": 1.0, "failure_status": 429}, "provider_unavailable"),
        ({"latency_seconds": 3.0}, "provider_timeout"),
    ],
    ids=["server-error", "rate-limited", "timeout"],
)
def test_transient_openai_failures_are_retried_then_the_credits_given_back(
    signed_in, app, openai_api, settings, code
):
    openai_api.configure(**settings)
    app.config["OPENAI_TIMEOUT_SECONDS"] = 0.5
    client, user_id, token = signed_in

    job_id = post_json(client, token, {"prompt": "a red fox", "size": 512}).get_json()["id"]
    run_queued(app)

    job = job_json(client, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == code
    assert "not charged" in job["error"]["message"]
    assert len(openai_api.requests_seen()) == app.config["JOB_MAX_ATTEMPTS"] == 3
    assert [s.status for s in spends(user_id)] == ["released"]
    assert balance(user_id) == 500


def test_a_refused_openai_request_is_not_retried(signed_in, app, openai_api):
    openai_api.configure(failure_rate=1.0, failure_status=400)
    client, user_id, token = signed_in

    job_id = post_json(client, token, {"prompt": "a red fox", "size": 512}).get_json()["id"]
    run_queued(app)

    job = job_json(client, job_id)
    assert job["error"]["code"] == "provider_refused" and "(400)" in job["error"]["message"]
    assert len(openai_api.requests_seen()) == 1
    assert balance(user_id) == 500


def test_an_openai_result_is_kept_so_a_replay_gets_it_without_paying_again(signed_in, app, openai_api):
    client, user_id, token = signed_in
    body = {"prompt": "a red fox", "size": 256}
    first = post_json(client, token, body, key="once").get_json()
    run_queued(app)
    original = fetch_result(client, job_json(client, first["id"]))

    replay = post_json(client, token, body, key="once")

    assert replay.status_code == 200 and replay.get_json()["id"] == first["id"]
    assert fetch_result(client, replay.get_json()).tobytes() == original.tobytes()
    assert len(openai_api.requests_seen()) == 1
    assert balance(user_id) == 495
