"""Charging for a feature: validate, hold, run, then capture or release.

The hold is committed before the feature runs, so no database transaction stays open
while a provider works; a worker that dies mid-run leaves a hold that
`flask credits release-stale` gives back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from creditapp import ledger
from creditapp.features import registry
from creditapp.features.base import InvalidInput
from creditapp.features.image_providers import ProviderError

log = logging.getLogger("creditapp.features")

MAX_IDEMPOTENCY_KEY_LENGTH = 255


class FeatureFailed(Exception):
    """The feature did not produce a result; the credits were given back (or never taken)."""

    def __init__(self, message: str, spend_id: int, replayed: bool = False) -> None:
        super().__init__(message)
        self.spend_id = spend_id
        self.replayed = replayed


class IdempotencyConflict(Exception):
    """The key belongs to another request: still running, or for something else."""

    def __init__(self, message: str, spend_id: int, code: str) -> None:
        super().__init__(message)
        self.spend_id = spend_id
        self.code = code


@dataclass(frozen=True)
class SpendOutcome:
    """A feature result and what it cost; `replayed` results charged nothing now."""

    spend_id: int
    cost: int
    balance: int
    output: Any
    replayed: bool


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


def spend(
    user_id: int,
    feature_name: str,
    raw: Mapping[str, Any],
    idempotency_key: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> SpendOutcome:
    """Charge `user_id` for one use of a feature and return its result.

    Raises InvalidInput (nothing charged), ledger.InsufficientCredits (nothing charged),
    FeatureFailed (credits given back) or IdempotencyConflict.
    """
    config = config if config is not None else current_app.config
    feature = registry.get(feature_name)
    params = feature.parse(raw, config)
    key = check_idempotency_key(idempotency_key)
    cost = feature.cost(params, config)
    fingerprint = request_fingerprint(feature.name, params) if key else None
    held = ledger.hold(user_id, feature.name, cost, key, fingerprint)
    if held.replayed:
        return _replay(feature, params, cost, held, config, fingerprint)
    try:
        output = feature.run(params, config)
    except Exception as exc:
        ledger.release(held.spend_id)
        message = str(exc) if isinstance(exc, ProviderError) else "The feature failed unexpectedly."
        log.warning(
            "feature failed; hold released",
            exc_info=not isinstance(exc, ProviderError),
            extra={"user_id": user_id, "spend_id": held.spend_id, "feature": feature.name},
        )
        raise FeatureFailed(f"{message} You were not charged.", held.spend_id) from exc
    if not ledger.capture(held.spend_id):
        # The hold was released meanwhile (`release-stale` ran while the feature was slow):
        # the credits are back, so the result is not handed out unpaid.
        raise FeatureFailed("This took too long and was cancelled. You were not charged.", held.spend_id)
    return SpendOutcome(held.spend_id, cost, held.balance, output, replayed=False)


def request_fingerprint(feature_name: str, params: Any) -> str:
    """A stable hash of what was asked for, bound to an idempotency key at first use."""
    fields = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else params
    canonical = json.dumps([feature_name, fields], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(
    feature: Any,
    params: Any,
    cost: int,
    held: ledger.SpendResult,
    config: Mapping[str, Any],
    fingerprint: str | None,
) -> SpendOutcome:
    """Answer a repeated key with the original outcome, charging nothing."""
    if held.credits_spent != cost or held.fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a different request.",
            held.spend_id,
            "idempotency_key_reused",
        )
    if held.status == "held":
        raise IdempotencyConflict(
            "A request with this Idempotency-Key is still running; try again in a moment.",
            held.spend_id,
            "request_in_progress",
        )
    if held.status == "released":
        raise FeatureFailed(
            "This request failed earlier and you were not charged. "
            "Send it with a new Idempotency-Key to try again.",
            held.spend_id,
            replayed=True,
        )
    if not feature.replayable(config):
        raise IdempotencyConflict(
            "This request already succeeded and was charged once; "
            "its result is not stored, so it cannot be sent again.",
            held.spend_id,
            "result_not_stored",
        )
    try:
        output = feature.run(params, config)
    except Exception as exc:
        raise FeatureFailed(
            f"{exc if isinstance(exc, ProviderError) else 'The feature failed.'} Nothing more was charged.",
            held.spend_id,
            replayed=True,
        ) from exc
    return SpendOutcome(held.spend_id, cost, held.balance, output, replayed=True)
