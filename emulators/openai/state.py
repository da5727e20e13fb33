"""The Images stand-in's settings (latency, failure rate) and the requests it saw."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

DEFAULTS: dict[str, Any] = {"latency_seconds": 0.0, "failure_rate": 0.0, "failure_status": 500}


@dataclass
class ImagesState:
    """Settings changed through `/_emulator/openai/config`, and a log of generation requests."""

    config: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply validated changes; returns the settings now in force."""
        with self.lock:
            self.config.update(changes)
            return dict(self.config)

    def record(self, headers: dict[str, str], body: Any) -> None:
        """Remember one request (the Authorization header and the JSON body)."""
        with self.lock:
            self.requests.append({"authorization": headers.get("Authorization"), "body": body})

    def should_fail(self) -> bool:
        """Draw whether this call fails, with probability `failure_rate`."""
        with self.lock:
            return self.rng.random() < self.config["failure_rate"]

    def reset(self) -> None:
        """Back to the defaults, no requests seen."""
        with self.lock:
            self.config = dict(DEFAULTS)
            self.requests.clear()
