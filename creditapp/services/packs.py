"""Credit packs: the Stripe Prices named by CREDIT_PACK_LOOKUP_KEYS, cached in-process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from creditapp import stripe_client

log = logging.getLogger("creditapp.packs")

CACHE_SECONDS = 300
# Currencies Stripe counts in whole units (no minor unit).
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())  # noqa: SIM905
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


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


def format_money(amount: int, currency: str) -> str:
    """Minor units to a display string: 2000 usd -> `$20.00`."""
    currency = currency.lower()
    value = f"{amount:,}" if currency in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


class PackCache:
    """Packs per (Stripe base, lookup keys), kept for `ttl` seconds.

    The lock is held while loading, so a cold cache under load costs one Stripe call.
    """

    def __init__(self, ttl: float = CACHE_SECONDS) -> None:
        self.ttl = ttl
        self.loads = 0
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, list[Pack]]] = {}

    def get(self, key: tuple, load: Callable[[], list[Pack]]) -> list[Pack]:
        """The cached packs for `key`, loading them when missing or stale."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > time.monotonic():
                return entry[1]
            packs = load()
            self.loads += 1
            self._entries[key] = (time.monotonic() + self.ttl, packs)
            return packs

    def clear(self) -> None:
        """Forget every cached pack list (tests; after changing Prices in Stripe)."""
        with self._lock:
            self._entries.clear()


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
