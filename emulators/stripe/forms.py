"""Parse Stripe-style nested form parameters (``a[b][0][c]=v``) into dicts and lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def split_key(key: str) -> list[str]:
    """Split ``line_items[0][price]`` into ``["line_items", "0", "price"]``."""
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    return [head, *_KEY_PART.findall("[" + rest)]


def parse_nested(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn flat ``(key, value)`` pairs into nested dicts; all-digit keys become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = split_key(key)
        node = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "":
                # "expand[]=a&expand[]=b": an append to the list the brackets name
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ValueError(f"Invalid nested parameter: {key}")
    return _listify(root)


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def as_list(value: Any) -> list[Any]:
    """Return ``value`` as a list (a single value becomes a one-item list)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def as_bool(value: Any) -> bool | None:
    """Parse Stripe's ``true``/``false`` strings; None when absent."""
    if value is None or isinstance(value, bool):
        return value
    return str(value).lower() in {"true", "1", "yes", "on"}
