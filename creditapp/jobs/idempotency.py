"""One job for a request sent twice: the Idempotency-Key rules and the request fingerprint.

A feature never runs inside a web request: `creditapp.jobs.service.submit` holds the credits
and queues a job, and a worker runs it (`creditapp.jobs.runner`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from typing import Any

from creditapp.platform.input_checks import InvalidInput

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# A browser form's key: far shorter than any key, so the request's hash fits beside it.
FORM_KEY_MAX = 64


class IdempotencyConflict(Exception):
    """The key belongs to another request, or to a spend whose result was never stored."""

    def __init__(self, message: str, spend_id: int, code: str) -> None:
        super().__init__(message)
        self.spend_id = spend_id
        self.code = code


def check_idempotency_key(key: str | None) -> str | None:
    """None, or a usable key (1–255 visible ASCII characters); InvalidInput otherwise."""
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            f"The Idempotency-Key must be 1–{MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters.",
            field="Idempotency-Key",
        )
    return key


def new_form_key() -> str:
    """A fresh idempotency key for one rendered feature form (its hidden `form_key` field)."""
    return secrets.token_urlsafe(18)


def is_form_key(value: Any) -> bool:
    """Whether a posted `form_key` has the shape new_form_key makes (so it can be sent back)."""
    if not isinstance(value, str):
        return False
    return 0 < len(value) <= FORM_KEY_MAX and value.isascii() and value.isprintable()


def request_fingerprint(feature_name: str, params: Any) -> str:
    """A stable hash of what was asked for, bound to an idempotency key at first use."""
    fields = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else params
    canonical = json.dumps([feature_name, fields], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
