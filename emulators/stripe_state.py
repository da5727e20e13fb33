"""In-memory Stripe state: objects by kind, lookups, lists, ``expand`` and event recording."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any, Protocol

from . import stripe_objects
from .errors import StripeError, invalid_param, no_such

KINDS = {
    "prod_": "product",
    "price_": "price",
    "cs_": "checkout.session",
    "pi_": "payment_intent",
    "ch_": "charge",
    "re_": "refund",
    "dp_": "dispute",
    "evt_": "event",
}


class Publisher(Protocol):
    """What the store needs from the webhook dispatcher."""

    enabled: bool

    def enqueue(self, event_id: str, event_type: str, body: bytes) -> None:
        """Queue a serialised event for delivery."""


class Store:
    """All emulated Stripe objects; callers hold ``lock`` around every read-modify-write."""

    def __init__(self, publisher: Publisher) -> None:
        self.lock = threading.RLock()
        self.publisher = publisher
        self.objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS.values()}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        # Create-time params Stripe keeps but never shows on the session (payment_intent_data).
        self.session_extras: dict[str, dict[str, Any]] = {}
        self.event_bodies: dict[str, bytes] = {}
        self.idempotency: dict[str, tuple[str, int, bytes]] = {}

    def reset(self, keep: tuple[str, ...] = ("product", "price")) -> None:
        """Forget everything except the kinds in ``keep`` (the catalogue by default)."""
        with self.lock:
            for kind, table in self.objects.items():
                if kind not in keep:
                    table.clear()
            self.line_items.clear()
            self.session_extras.clear()
            self.event_bodies.clear()
            self.idempotency.clear()

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object under its ``object`` kind and return it."""
        self.objects[obj["object"]][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, *, param: str = "id", status: int = 404) -> dict[str, Any]:
        """Return the live object or raise Stripe's ``resource_missing``."""
        obj = self.objects[kind].get(object_id)
        if obj is None:
            raise no_such(kind, object_id, param=param, status=status)
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        """Return any object by id, using its prefix to pick the kind."""
        for prefix, kind in KINDS.items():
            if object_id.startswith(prefix):
                return self.objects[kind].get(object_id)
        return None

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        request: dict[str, Any] | None = None,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event about ``obj`` and queue it for webhook delivery."""
        enabled = self.publisher.enabled
        evt = stripe_objects.event(
            event_type,
            copy.deepcopy(obj),
            request=request,
            pending_webhooks=1 if enabled else 0,
            previous_attributes=previous_attributes,
        )
        # Serialised once: every delivery and resend sends exactly these bytes.
        body = json.dumps(evt, indent=2).encode()
        self.add(evt)
        self.event_bodies[evt["id"]] = body
        if enabled:
            self.publisher.enqueue(evt["id"], event_type, body)
        return evt

    def expand(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """Return a copy of ``obj`` with each dotted ``expand`` path replaced by its object."""
        result = copy.deepcopy(obj)
        for path in paths:
            self._expand(result, path.split("."), path)
        return result

    def _expand(self, node: Any, parts: list[str], path: str) -> None:
        if isinstance(node, list):
            for item in node:
                self._expand(item, parts, path)
            return
        if not isinstance(node, dict):
            return
        field = parts[0]
        if field == "line_items" and node.get("object") == "checkout.session":
            node["line_items"] = self.session_line_items(node["id"])
        if field not in node:
            raise invalid_param("expand", f"This property cannot be expanded ({path}).")
        value = node[field]
        if isinstance(value, str):
            found = self.find(value)
            if found is None:
                raise invalid_param("expand", f"This property cannot be expanded ({path}).")
            value = node[field] = copy.deepcopy(found)
        if len(parts) > 1 and value is not None:
            self._expand(value, parts[1:], path)

    def session_line_items(self, session_id: str) -> dict[str, Any]:
        """Return the session's line items as a Stripe list."""
        items = copy.deepcopy(self.line_items.get(session_id, []))
        return stripe_objects.list_object(items, f"/v1/checkout/sessions/{session_id}/line_items")

    def list(
        self,
        kind: str,
        params: dict[str, Any],
        url: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Return a newest-first page of ``kind``, filtered by ``created`` and ``predicate``."""
        created = created_filter(params.get("created"))
        items = [
            obj
            for obj in reversed(list(self.objects[kind].values()))
            if created(obj["created"]) and (predicate is None or predicate(obj))
        ]
        return self.paginate(items, params, url, kind)

    def paginate(
        self, items: list[dict[str, Any]], params: dict[str, Any], url: str, kind: str
    ) -> dict[str, Any]:
        """Slice ``items`` by ``limit``/``starting_after``/``ending_before`` into a list object."""
        limit = _limit(params.get("limit"))
        ids = [item["id"] for item in items]
        after, before = params.get("starting_after"), params.get("ending_before")
        if after:
            if after not in ids:
                raise no_such(kind, after, param="starting_after", status=400)
            items = items[ids.index(after) + 1 :]
            page, has_more = items[:limit], len(items) > limit
        elif before:
            if before not in ids:
                raise no_such(kind, before, param="ending_before", status=400)
            items = items[: ids.index(before)]
            page, has_more = items[-limit:], len(items) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        expand = [p[len("data.") :] for p in expand_paths(params) if p.startswith("data.")]
        data = [self.expand(item, expand) for item in page]
        return stripe_objects.list_object(data, url, has_more)


def expand_paths(params: dict[str, Any]) -> list[str]:
    """Return the request's ``expand`` paths as a list."""
    value = params.get("expand") or []
    return [value] if isinstance(value, str) else list(value)


def _limit(value: Any) -> int:
    if value is None:
        return 10
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise invalid_param("limit", "Invalid integer: " + str(value)) from None
    if not 1 <= limit <= 100:
        raise StripeError(
            "This value must be greater than or equal to 1 and less than or equal to 100.",
            code="parameter_invalid_integer",
            param="limit",
        )
    return limit


def created_filter(value: Any) -> Callable[[int], bool]:
    """Return a predicate for Stripe's ``created`` filter (exact value or ``gt/gte/lt/lte``)."""
    if value is None or value == "":
        return lambda _created: True
    try:
        if not isinstance(value, dict):
            exact = int(value)
            return lambda created: created == exact
        bounds = {op: int(v) for op, v in value.items()}
    except (TypeError, ValueError):
        raise invalid_param("created", "Invalid timestamp for created.") from None
    unknown = set(bounds) - {"gt", "gte", "lt", "lte"}
    if unknown:
        raise StripeError(f"Received unknown parameter: created[{sorted(unknown)[0]}]", param="created")

    def matches(created: int) -> bool:
        return (
            ("gt" not in bounds or created > bounds["gt"])
            and ("gte" not in bounds or created >= bounds["gte"])
            and ("lt" not in bounds or created < bounds["lt"])
            and ("lte" not in bounds or created <= bounds["lte"])
        )

    return matches
