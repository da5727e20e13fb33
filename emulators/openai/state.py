"""The OpenAI stand-in's settings (latency, pace, failures) and the requests it saw."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

IMAGES_DEFAULTS: dict[str, Any] = {"latency_seconds": 0.0, "failure_rate": 0.0, "failure_status": 500}
RESPONSES_DEFAULTS: dict[str, Any] = {
    "responses_first_token_seconds": 0.25,
    "responses_tokens_per_second": 40.0,  # None: as fast as the socket takes them
    "responses_output_tokens": None,  # None: drawn from the prompt, within max_output_tokens
    "responses_failure_rate": 0.0,
    "responses_failure_status": 500,
    "responses_fail_after_tokens": None,  # N: a stream fails after its N-th delta
}
DEFAULTS: dict[str, Any] = {**IMAGES_DEFAULTS, **RESPONSES_DEFAULTS}


@dataclass
class OpenAIState:
    """Settings changed through `/_emulator/openai/config`, and a log of the calls made."""

    config: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    requests: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply validated changes; returns the settings now in force."""
        with self.lock:
            self.config.update(changes)
            return dict(self.config)

    def settings(self) -> dict[str, Any]:
        """A copy of the settings in force, for one request to keep while it runs."""
        with self.lock:
            return dict(self.config)

    def record(self, headers: dict[str, str], body: Any) -> None:
        """Remember one image request (the Authorization header and the JSON body)."""
        with self.lock:
            self.requests.append({"authorization": headers.get("Authorization"), "body": body})

    def record_response(self, headers: dict[str, str], body: Any) -> dict[str, Any]:
        """Remember one `/responses` call; the returned entry is updated as it runs."""
        entry = {
            "id": None,
            "authorization": headers.get("Authorization"),
            "body": body,
            "outcome": "in_progress",
            "output_tokens_sent": 0,
            "usage": None,  # the `usage` the response ended with (completed or incomplete)
            # Seconds since the epoch, to line up with what a client saw: when the first
            # delta was written to the socket, and when the call ended.
            "first_delta_at": None,
            "ended_at": None,
        }
        with self.lock:
            self.responses.append(entry)
        return entry

    def update_response(self, entry: dict[str, Any], **changes: Any) -> None:
        """Change a logged `/responses` call (its id, outcome, deltas sent) under the lock."""
        with self.lock:
            entry.update(changes)

    def should_fail(self, rate_key: str = "failure_rate") -> bool:
        """Draw whether this call fails, with the probability the setting `rate_key` holds."""
        with self.lock:
            return self.rng.random() < self.config[rate_key]

    def reset(self) -> None:
        """Back to the defaults, no requests seen."""
        with self.lock:
            self.config = dict(DEFAULTS)
            self.requests.clear()
            self.responses.clear()


def current_state() -> OpenAIState:
    """The stand-in's state in the running emulator app."""
    return current_app.extensions["openai"]
