"""One StripeClient per app, pointed at the local stand-in when STRIPE_API_BASE is set.

Its calls wait up to TIMEOUT_SECONDS and are retried twice, except inside `budget()`: there
all the calls of the block together wait at most the budget and none is retried. The
webhook uses it, so a Stripe that does not answer gets a quick retryable 503 (Stripe
delivers again) instead of holding a web worker past Stripe's own patience.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import stripe
from flask import Flask, current_app

TIMEOUT_SECONDS = 20

# When the current budget ends (time.monotonic()), per thread; None: no budget.
_budget_ends: ContextVar[float | None] = ContextVar("stripe_budget_ends", default=None)


class BudgetSpent(Exception):
    """The calls of the current budget have used all of it (a connection error to the SDK)."""


class BudgetedRequestsClient(stripe.RequestsClient):
    """The SDK's requests client, bounded inside `budget()`: each call waits only what is left
    of the budget, and is not retried (a retry would only spend what is left)."""

    def request_with_retries(self, *args: Any, **kwargs: Any) -> Any:
        if _budget_ends.get() is not None:
            kwargs["max_network_retries"] = 0
        return super().request_with_retries(*args, **kwargs)

    def request_stream_with_retries(self, *args: Any, **kwargs: Any) -> Any:
        if _budget_ends.get() is not None:
            kwargs["max_network_retries"] = 0
        return super().request_stream_with_retries(*args, **kwargs)

    # stripe's RequestsClient hands `self._timeout` to requests on every call (connect and
    # each read); a property gives each call what is left of its own thread's budget.
    @property
    def _timeout(self) -> float:
        ends = _budget_ends.get()
        if ends is None:
            return self._configured_timeout
        left = ends - time.monotonic()
        if left <= 0:
            raise BudgetSpent("the time allowed for Stripe calls is used up")
        return min(left, self._configured_timeout)

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._configured_timeout = value


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Inside the block, this thread's Stripe calls together wait at most `seconds`, with no
    retries; a call past it fails as a connection error (stripe.APIConnectionError)."""
    token = _budget_ends.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _budget_ends.reset(token)


def init_app(app: Flask) -> None:
    """Build the client from the app's Stripe settings."""
    app.extensions["stripe_client"] = build_client(
        app.config["STRIPE_SECRET_KEY"], app.config.get("STRIPE_API_BASE")
    )


def build_client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    """A StripeClient; the emulator base replaces Stripe's API host when given."""
    # A short timeout: a hung Stripe call must not hold a worker (or the pack cache lock).
    kwargs: dict = {"max_network_retries": 2, "http_client": BudgetedRequestsClient(timeout=TIMEOUT_SECONDS)}
    if api_base:
        kwargs["base_addresses"] = {"api": api_base}
    return stripe.StripeClient(api_key or "sk_test_missing", **kwargs)


def client() -> stripe.StripeClient:
    """The current app's StripeClient."""
    return current_app.extensions["stripe_client"]
