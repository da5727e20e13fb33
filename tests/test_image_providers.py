"""Image providers: the local drawing, and OpenAI's Images API through a local stand-in."""

from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from creditapp.features.image_providers import LocalImageProvider, OpenAIImageProvider, provider_for
from tests.support.spending import balance, csrf_token, decode_png, post_json, spends


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


# --- the OpenAI provider, against a local stand-in of the Images API -------------------


class FakeImagesAPI:
    """A tiny HTTP server answering POST /v1/images/generations: a PNG, a 500, or silence."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[tuple[dict, dict]] = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((dict(self.headers), body))
                if fake.mode == "hang":
                    fake.release.wait(30)  # past the client's timeout; never answers
                    return
                if fake.mode == "error":
                    self._send(500, {"error": {"message": "boom", "type": "server_error"}})
                    return
                picture = Image.new("RGB", (1024, 1024), (10, 120, 200))
                buffer = io.BytesIO()
                picture.save(buffer, format="PNG")
                self._send(
                    200, {"created": 1, "data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]}
                )

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def openai_api(app, monkeypatch):
    """IMAGE_PROVIDER=openai pointed at a local fake of the Images API."""
    fake = FakeImagesAPI()
    monkeypatch.setitem(app.config, "IMAGE_PROVIDER", "openai")
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setitem(app.config, "OPENAI_API_BASE", fake.url)
    monkeypatch.setitem(app.config, "OPENAI_TIMEOUT_SECONDS", 0.5)
    yield fake
    fake.stop()


def test_openai_images_are_requested_with_the_key_and_charged(signed_in, openai_api):
    client, user_id, token = signed_in

    response = post_json(client, token, {"prompt": "a red fox", "size": 512})

    assert response.status_code == 200
    assert decode_png(response.get_json()["image"]).size == (512, 512)
    [(headers, body)] = openai_api.requests
    assert headers["Authorization"] == "Bearer sk-test-openai"
    assert body["prompt"] == "a red fox" and body["response_format"] == "b64_json"
    assert body["model"] == "dall-e-3" and body["size"] == "1024x1024"
    assert [s.status for s in spends(user_id)] == ["captured"]
    assert balance(user_id) == 490


@pytest.mark.parametrize("mode", ["error", "hang"])
def test_openai_errors_and_timeouts_give_the_credits_back(signed_in, openai_api, mode):
    openai_api.mode = mode
    client, user_id, token = signed_in

    response = post_json(client, token, {"prompt": "a red fox", "size": 512})

    assert response.status_code == 502
    assert response.get_json()["error"] == "feature_failed"
    expected = "took too long" if mode == "hang" else "answered with an error (500)"
    assert expected in response.get_json()["message"]
    assert [s.status for s in spends(user_id)] == ["released"]
    assert balance(user_id) == 500


def test_an_openai_result_is_not_handed_out_again_for_free(signed_in, openai_api):
    client, user_id, token = signed_in
    body = {"prompt": "a red fox", "size": 256}
    post_json(client, token, body, key="once")

    replay = post_json(client, token, body, key="once")

    assert replay.status_code == 409
    assert replay.get_json()["error"] == "result_not_stored"
    assert len(openai_api.requests) == 1
    assert balance(user_id) == 495
