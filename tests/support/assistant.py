"""The OpenAI Responses stand-in's controls for the assistant's tests and bench; the charges they expect."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from emulators.openai.text import answer, seed_for

API_KEY = "sk-test-assistant"
# The tests' price: credits per 1,000 tokens, so one credit per 10 tokens started and the rounding shows.
PRICE = 100
UNPACED = {"responses_first_token_seconds": 0, "responses_tokens_per_second": None}


class ResponsesStandIn:
    """`/_emulator/openai/…` of a running stand-in: settings, and the log of `/responses` calls."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.api = f"{base_url}/openai/v1"
        self.http = requests.Session()
        self.http.trust_env = False

    def reset(self, **settings: Any) -> None:
        """Default settings and an empty log, then these settings."""
        self.http.post(f"{self.base_url}/_emulator/openai/reset", timeout=5).raise_for_status()
        if settings:
            self.configure(**settings)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change the stand-in's settings; the settings in force."""
        response = self.http.post(f"{self.base_url}/_emulator/openai/config", json=settings, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def calls(self) -> list[dict[str, Any]]:
        """Every `/responses` call since the reset, oldest first."""
        return self.http.get(f"{self.base_url}/_emulator/openai/responses", timeout=5).json()

    def wait_for(
        self, condition: Callable[[list[dict[str, Any]]], bool], what: str, seconds: float = 15
    ) -> list[dict[str, Any]]:
        """The log once `condition(log)` holds (a deadline only a hang reaches)."""
        deadline = time.monotonic() + seconds
        while not condition(calls := self.calls()):
            assert time.monotonic() < deadline, f"gave up waiting for {what}: {calls}"
            time.sleep(0.02)
        return calls


def settings_for(stand_in: ResponsesStandIn, price_per_1k: int) -> dict[str, Any]:
    """The app settings that point the assistant at the stand-in, at this price."""
    return {
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_API_BASE": stand_in.api,
        "FEATURE_PRICES": {"assistant_per_1k_tokens": price_per_1k},
    }


def price_of(price_per_1k: int, tokens: int) -> int:
    """What `tokens` tokens cost, rounded up to whole credits: the charge the docs promise."""
    return -(-price_per_1k * tokens // 1000)


def answer_to(prompt: str, tokens: int) -> str:
    """The text the stand-in writes for `prompt` in `tokens` tokens (it is seeded with the prompt)."""
    return "".join(answer(seed_for(None, [prompt]), tokens))


@pytest.fixture
def stand_in(app, emulator, monkeypatch) -> ResponsesStandIn:
    """The app's assistant pointed at the stand-in (reset, unpaced), at PRICE."""
    openai = ResponsesStandIn(emulator.base_url)
    openai.reset(**UNPACED)
    for name, value in settings_for(openai, PRICE).items():
        monkeypatch.setitem(app.config, name, value)
    return openai
