"""Products and Prices: the seeded credit packs plus create/update/filter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import objects
from .errors import invalid_param, missing_param
from .state import Store

# (lookup key, credits, price in US cents)
CREDIT_PACKS = (("credits_100", 100, 500), ("credits_500", 500, 2000), ("credits_1000", 1000, 3500))


def seed(store: Store) -> None:
    """Add the three credit packs with ids that stay the same across restarts."""
    with store.lock:
        for lookup_key, credits, cents in CREDIT_PACKS:
            metadata = {"credits": str(credits)}
            name = f"{credits} credits"
            product = objects.product(name, metadata, product_id=objects.stable_id("prod_", lookup_key))
            price = objects.price(
                product["id"],
                cents,
                "usd",
                lookup_key=lookup_key,
                metadata=metadata,
                nickname=name,
                price_id=objects.stable_id("price_", lookup_key),
            )
            product["default_price"] = price["id"]
            store.add(product)
            store.add(price)


def create_product(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Create a Product from ``name``, ``metadata`` and ``active``."""
    if not params.get("name"):
        raise missing_param("name")
    product = objects.product(params["name"], params.get("metadata") or {})
    if params.get("active") is not None:
        product["active"] = params["active"]
    if params.get("description") is not None:
        product["description"] = params["description"]
    return store.add(product)


def create_price(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Create a one-time Price for ``product`` (or inline ``product_data``)."""
    currency = params["currency"]
    if params.get("unit_amount") is None:
        raise missing_param("unit_amount")
    if "product_data" in params:
        product = create_product(store, params["product_data"])
    elif params.get("product"):
        product = store.get("product", params["product"], param="product", status=400)
    else:
        raise missing_param("product")
    lookup_key = params.get("lookup_key")
    _claim_lookup_key(store, lookup_key, params.get("transfer_lookup_key"))
    price = objects.price(
        product["id"],
        params["unit_amount"],
        currency.lower(),
        lookup_key=lookup_key,
        metadata=params.get("metadata") or {},
        nickname=params.get("nickname"),
        active=params.get("active") is not False,
    )
    return store.add(price)


def update_price(store: Store, price_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Update a Price's ``active``, ``nickname``, ``lookup_key`` or ``metadata``."""
    price = store.get("price", price_id)
    if params.get("active") is not None:
        price["active"] = params["active"]
    if "nickname" in params:
        price["nickname"] = params["nickname"]
    if "lookup_key" in params:
        _claim_lookup_key(store, params["lookup_key"], params.get("transfer_lookup_key"))
        price["lookup_key"] = params["lookup_key"]
    if "metadata" in params:
        price["metadata"] = merge_metadata(price["metadata"], params["metadata"])
    return price


def price_filter(params: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """Return a predicate for the Price list filters ``active``, ``lookup_keys``, ``product``…."""
    active = params.get("active")
    lookup_keys = set(params.get("lookup_keys") or [])
    product, price_type = params.get("product"), params.get("type")
    currency = params.get("currency")

    def matches(price: dict[str, Any]) -> bool:
        return (
            (active is None or price["active"] == active)
            and (not lookup_keys or price["lookup_key"] in lookup_keys)
            and (not product or price["product"] == product)
            and (not price_type or price["type"] == price_type)
            and (not currency or price["currency"] == currency.lower())
        )

    return matches


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Apply a parsed metadata update as Stripe does: None (``metadata=""``) or "" unsets."""
    if update is None:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def _claim_lookup_key(store: Store, lookup_key: str | None, transfer: bool | None) -> None:
    if not lookup_key:
        return
    for price in store.objects["price"].values():
        if price["lookup_key"] == lookup_key:
            if not transfer:
                raise invalid_param("lookup_key", f"A price ({price['id']}) already uses that lookup key.")
            price["lookup_key"] = None
