"""Credit packs: the Stripe Prices named by CREDIT_PACK_LOOKUP_KEYS, cached in-process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe
from flask import current_app

from creditapp.platform import stripe_client
from creditapp.platform.money import format_money

log = logging.getLogger("creditapp.packs")

CACHE_SECONDS = 300
# A failed load is not retried for this long (the last good packs are served meanwhile).
FAILURE_SECONDS = 15
# The longest a request with no packs to show waits for another request's load.
WAIT_SECONDS = 30


@dataclass(frozen=True)
class Pack:
    """One credit pack on sale: a Stripe Price and the credits it buys."""

    price_id: str
    lookup_key: str
    name: str
    credits: int
    unit_amount: int
    currency: str

    @property
    def formatted_price(self) -> str:
        """The price as people read it, e.g. `$20.00`."""
        return format_money(self.unit_amount, self.currency)


@dataclass
class _Entry:
    """What is known for one key: the last good packs and the last failure, each with an expiry."""

    packs: list[Pack] | None = None
    fresh_until: float = 0.0
    error: Exception | None = None
    error_until: float = 0.0
    loading: threading.Event | None = None


class PackCache:
    """Packs per (Stripe base, lookup keys): fresh for `ttl` seconds, then reloaded.

    Loading is single-flight: one request calls Stripe while the others serve the last good
    packs, or, when there are none yet, wait for that one call. A failed load keeps serving
    the last good packs and is remembered for `failure_ttl` seconds, so a Stripe that is down
    gets one call per key in that window, not one per page view. The lock is never held
    while Stripe is called.
    """

    def __init__(
        self, ttl: float = CACHE_SECONDS, failure_ttl: float = FAILURE_SECONDS, wait: float = WAIT_SECONDS
    ) -> None:
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.wait = wait
        self.loads = 0
        self._lock = threading.Lock()
        self._entries: dict[tuple, _Entry] = {}

    def get(self, key: tuple, load: Callable[[], list[Pack]]) -> list[Pack]:
        """The packs for `key`; raises the load's StripeError only when no good packs exist."""
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            now = time.monotonic()
            if entry.packs is not None and (
                entry.fresh_until > now or entry.loading is not None or entry.error_until > now
            ):
                # Fresh; or another request is refreshing them; or Stripe failed a moment ago.
                return entry.packs
            if entry.error is not None and entry.error_until > now:
                raise _unavailable(entry.error)  # no packs yet, and Stripe failed a moment ago
            loading = entry.loading
            leader = loading is None
            if leader:
                loading = entry.loading = threading.Event()
        if leader:
            return self._load(entry, load)
        # No packs to serve yet: wait for the load in flight and share its outcome.
        if not loading.wait(self.wait):
            raise stripe.APIConnectionError("Stripe is slow to list the credit packs.")
        with self._lock:
            if entry.packs is not None:
                return entry.packs
            raise _unavailable(entry.error)

    def _load(self, entry: _Entry, load: Callable[[], list[Pack]]) -> list[Pack]:
        """Call Stripe (outside the lock) and record the outcome for everyone waiting."""
        try:
            packs = load()
        except stripe.StripeError as exc:
            with self._lock:
                self.loads += 1
                entry.error, entry.error_until = exc, time.monotonic() + self.failure_ttl
                last_good = entry.packs
            if last_good is None:
                raise
            log.warning(
                "Stripe could not list the packs (%s); serving the last good ones", type(exc).__name__
            )
            return last_good
        else:
            with self._lock:
                self.loads += 1
                entry.packs, entry.fresh_until = packs, time.monotonic() + self.ttl
                entry.error, entry.error_until = None, 0.0
            return packs
        finally:
            with self._lock:
                done, entry.loading = entry.loading, None
            if done is not None:
                done.set()

    def clear(self) -> None:
        """Forget every cached pack list and failure (tests; after changing Prices in Stripe)."""
        with self._lock:
            self._entries.clear()


def _unavailable(cause: Exception | None) -> stripe.StripeError:
    """A fresh error for each request served a remembered failure (one instance raised by
    many threads would share, and keep growing, one traceback)."""
    reason = type(cause).__name__ if cause is not None else "no answer"
    return stripe.APIConnectionError(f"The credit packs could not be loaded from Stripe ({reason}).")


cache = PackCache()


def list_packs() -> list[Pack]:
    """The packs on sale, in CREDIT_PACK_LOOKUP_KEYS order (cached for a few minutes)."""
    keys = tuple(current_app.config["CREDIT_PACK_LOOKUP_KEYS"])
    key = (current_app.config.get("STRIPE_API_BASE"), keys)
    return cache.get(key, lambda: _load(keys))


def find_pack(price_id: str) -> Pack | None:
    """The pack sold under this Price id, or None when it is not one of ours."""
    return next((pack for pack in list_packs() if pack.price_id == price_id), None)


def _load(keys: tuple[str, ...]) -> list[Pack]:
    """Fetch the Prices with one `prices.list` call; invalid ones are logged and left out."""
    if not keys:
        return []
    prices = stripe_client.client().v1.prices.list(
        params={"lookup_keys": list(keys), "active": True, "expand": ["data.product"], "limit": 100}
    )
    packs = [pack for price in prices.data if (pack := _pack(price.to_dict())) is not None]
    order = {lookup_key: index for index, lookup_key in enumerate(keys)}
    return sorted(packs, key=lambda pack: order.get(pack.lookup_key, len(order)))


def _pack(price: dict[str, Any]) -> Pack | None:
    """A Pack from a Price, or None (logged) when it cannot be sold as one."""
    raw = (price.get("metadata") or {}).get("credits")
    try:
        credits = int(raw)
    except (TypeError, ValueError):
        credits = 0
    problem = None
    if credits <= 0 or str(credits) != str(raw).strip():
        problem = f"metadata.credits is {raw!r}, not a positive whole number"
    elif price.get("type") != "one_time" or not isinstance(price.get("unit_amount"), int):
        problem = "it is not a one-time price with a fixed amount"
    if problem:
        log.warning(
            "price %s (%s) left out of the packs: %s", price.get("id"), price.get("lookup_key"), problem
        )
        return None
    product = price.get("product")
    name = product.get("name") if isinstance(product, dict) else None
    return Pack(
        price_id=price["id"],
        lookup_key=price.get("lookup_key") or "",
        name=name or price.get("nickname") or f"{credits} credits",
        credits=credits,
        unit_amount=price["unit_amount"],
        currency=price["currency"],
    )
