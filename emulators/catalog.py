"""Products and Prices: the seeded credit packs plus create/update/filter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import stripe_objects
from .errors import StripeError, invalid_param, missing_param
from .forms import as_bool, as_list
from .stripe_state import Store

# (lookup key, credits, price in US cents)
CREDIT_PACKS = (("credits_100", 100, 500), ("credits_500", 500, 2000), ("credits_1000", 1000, 3500))


def seed(store: Store) -> None:
    """Add the three credit packs with ids that stay the same across restarts."""
    with store.lock:
        for lookup_key, credits, cents in CREDIT_PACKS:
            metadata = {"credits": str(credits)}
            name = f"{credits} credits"
            product = stripe_objects.product(
                name, metadata, product_id=stripe_objects.stable_id("prod_", lookup_key)
            )
            price = stripe_objects.price(
                product["id"],
                cents,
                "usd",
                lookup_key=lookup_key,
                metadata=metadata,
                nickname=name,
                price_id=stripe_objects.stable_id("price_", lookup_key),
            )
            product["default_price"] = price["id"]
            store.add(product)
            store.add(price)


def create_product(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Create a Product from ``name``, ``metadata`` and ``active``."""
    if not params.get("name"):
        raise missing_param("name")
    product = stripe_objects.product(params["name"], _metadata(params))
    if params.get("active") is not None:
        product["active"] = bool(as_bool(params["active"]))
    return store.add(product)


def create_price(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Create a one-time Price for ``product`` (or inline ``product_data``)."""
    currency = params.get("currency")
    if not currency:
        raise missing_param("currency")
    amount = _amount(params.get("unit_amount"))
    if "product_data" in params:
        product = create_product(store, params["product_data"])
    elif params.get("product"):
        product = store.get("product", params["product"], param="product", status=400)
    else:
        raise missing_param("product")
    lookup_key = params.get("lookup_key")
    _claim_lookup_key(store, lookup_key, as_bool(params.get("transfer_lookup_key")))
    price = stripe_objects.price(
        product["id"],
        amount,
        currency.lower(),
        lookup_key=lookup_key,
        metadata=_metadata(params),
        nickname=params.get("nickname"),
        active=as_bool(params.get("active")) is not False,
    )
    return store.add(price)


def update_price(store: Store, price_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Update a Price's ``active``, ``nickname``, ``lookup_key`` or ``metadata``."""
    price = store.get("price", price_id)
    if "active" in params:
        price["active"] = bool(as_bool(params["active"]))
    if "nickname" in params:
        price["nickname"] = params["nickname"] or None
    if "lookup_key" in params:
        _claim_lookup_key(store, params["lookup_key"], as_bool(params.get("transfer_lookup_key")))
        price["lookup_key"] = params["lookup_key"] or None
    if "metadata" in params:
        price["metadata"] = merge_metadata(price["metadata"], params["metadata"])
    return price


def price_filter(params: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """Return a predicate for the Price list filters ``active``, ``lookup_keys``, ``product``…."""
    active = as_bool(params.get("active"))
    lookup_keys = set(as_list(params.get("lookup_keys")))
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


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Apply a metadata update as Stripe does: an empty value deletes the key."""
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid_param("metadata", "Invalid hash")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    return merge_metadata({}, params.get("metadata") or {})


def _amount(value: Any) -> int:
    if value is None:
        raise missing_param("unit_amount")
    try:
        amount = int(value)
    except (TypeError, ValueError):
        raise invalid_param("unit_amount", f"Invalid integer: {value}") from None
    if amount < 0:
        raise invalid_param("unit_amount", "This value must be greater than or equal to 0.")
    return amount


def _claim_lookup_key(store: Store, lookup_key: str | None, transfer: bool | None) -> None:
    if not lookup_key:
        return
    for price in store.objects["price"].values():
        if price["lookup_key"] == lookup_key:
            if not transfer:
                raise StripeError(
                    f"A price ({price['id']}) already uses that lookup key.",
                    code="lookup_key_already_exists",
                    param="lookup_key",
                )
            price["lookup_key"] = None
