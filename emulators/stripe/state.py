"""In-memory Stripe state: objects by kind, lookups, lists, ``expand`` and event recording."""

from __future__ import annotations

import copy
import fnmatch
import json
import threading
from collections.abc import Callable
from typing import Any, Protocol

from . import objects
from .errors import invalid_param, no_such

KINDS = {
    "prod_": "product",
    "price_": "price",
    "cs_": "checkout.session",
    "pi_": "payment_intent",
    "cus_": "customer",
    "pm_": "payment_method",
    "ch_": "charge",
    "re_": "refund",
    "dp_": "dispute",
    "txn_": "balance_transaction",
    "we_": "webhook_endpoint",
    "evt_": "event",
    "in_": "invoice",
    "ii_": "invoiceitem",
    "inpay_": "invoice_payment",
}
DEFAULT_ENDPOINT_ID = objects.stable_id("we_", "the endpoint EMULATOR_WEBHOOK_URL names")


class Publisher(Protocol):
    """What the store needs from the webhook dispatcher."""

    enabled: bool

    def enqueue(self, event_id: str, event_type: str, body: bytes, endpoint_id: str) -> None:
        """Queue a serialised event for delivery to one endpoint."""


class Store:
    """All emulated Stripe objects; callers hold ``lock`` around every read-modify-write."""

    def __init__(self, publisher: Publisher, webhook_url: str, webhook_secret: str) -> None:
        self.lock = threading.RLock()
        self.publisher = publisher
        self.objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS.values()}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        # Create-time params Stripe keeps but never shows on the session (payment_intent_data).
        self.session_extras: dict[str, dict[str, Any]] = {}
        # A Customer's tax ids (Stripe's includable ``tax_ids``), as Checkout collected them.
        self.customer_tax_ids: dict[str, list[dict[str, Any]]] = {}
        self.event_bodies: dict[str, bytes] = {}
        self.idempotency: dict[str, tuple[str, int, bytes]] = {}
        # Stripe shows an endpoint's signing secret only once, at creation: it lives here.
        self.endpoint_secrets: dict[str, str] = {}
        self.default_endpoint = {"url": webhook_url, "secret": webhook_secret}
        self.add_default_endpoint()

    def reset(self, keep: tuple[str, ...] = ("product", "price")) -> None:
        """Forget everything except the kinds in ``keep``; the default endpoint comes back."""
        with self.lock:
            for kind, table in self.objects.items():
                if kind not in keep:
                    table.clear()
            self.line_items.clear()
            self.session_extras.clear()
            self.customer_tax_ids.clear()
            self.event_bodies.clear()
            self.idempotency.clear()
            self.endpoint_secrets.clear()
            self.add_default_endpoint()

    def add_default_endpoint(self) -> dict[str, Any]:
        """(Re)create the endpoint ``EMULATOR_WEBHOOK_URL`` names, receiving every event."""
        endpoint = objects.webhook_endpoint(
            self.default_endpoint["url"],
            ["*"],
            description="EMULATOR_WEBHOOK_URL (exists from the start)",
            endpoint_id=DEFAULT_ENDPOINT_ID,
        )
        self.objects["webhook_endpoint"].pop(DEFAULT_ENDPOINT_ID, None)
        self.add(endpoint)
        self.endpoint_secrets[endpoint["id"]] = self.default_endpoint["secret"]
        return endpoint

    def configure_default_endpoint(self, url: str | None = None, secret: str | None = None) -> None:
        """Point the default endpoint elsewhere or change its secret (``/_emulator/config``)."""
        with self.lock:
            if url is not None:
                self.default_endpoint["url"] = url
            if secret is not None:
                self.default_endpoint["secret"] = secret
            endpoint = self.objects["webhook_endpoint"].get(DEFAULT_ENDPOINT_ID)
            if endpoint is None:
                return
            endpoint["url"] = self.default_endpoint["url"]
            self.endpoint_secrets[DEFAULT_ENDPOINT_ID] = self.default_endpoint["secret"]

    def endpoint_target(self, endpoint_id: str) -> tuple[str, str] | None:
        """Return ``(url, secret)`` of a live, enabled endpoint; None once deleted or disabled."""
        with self.lock:
            endpoint = self.objects["webhook_endpoint"].get(endpoint_id)
            if endpoint is None or endpoint["status"] != "enabled":
                return None
            return endpoint["url"], self.endpoint_secrets[endpoint_id]

    def endpoints_for(self, event_type: str) -> list[str]:
        """Return the ids of the enabled endpoints subscribed to ``event_type``, oldest first."""
        return [
            endpoint["id"]
            for endpoint in self.objects["webhook_endpoint"].values()
            if endpoint["status"] == "enabled"
            and any(fnmatch.fnmatchcase(event_type, pattern) for pattern in endpoint["enabled_events"])
        ]

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
        """Record an event about ``obj`` and queue it for every endpoint that wants it."""
        targets = self.endpoints_for(event_type) if self.publisher.enabled else []
        evt = objects.event(
            event_type,
            copy.deepcopy(obj),
            request=request,
            pending_webhooks=len(targets),
            previous_attributes=previous_attributes,
        )
        # Serialised once: every delivery and resend sends exactly these bytes.
        body = json.dumps(evt, indent=2).encode()
        self.add(evt)
        self.event_bodies[evt["id"]] = body
        for endpoint_id in targets:
            self.publisher.enqueue(evt["id"], event_type, body, endpoint_id)
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
        if field == "refunds" and node.get("object") == "charge":
            # Not embedded since API 2022-11-15, but still expandable.
            node["refunds"] = self.charge_refunds(node["id"])
        if field == "payments" and node.get("object") == "invoice":
            # Includable: only an expanded invoice carries its payments.
            found = [p for p in self.objects["invoice_payment"].values() if p["invoice"] == node["id"]]
            url = f"/v1/invoice_payments?invoice={node['id']}"
            node["payments"] = objects.list_object(copy.deepcopy(found), url)
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
        return objects.list_object(items, f"/v1/checkout/sessions/{session_id}/line_items")

    def charge_refunds(self, charge_id: str) -> dict[str, Any]:
        """Return a charge's refunds, newest first, as a Stripe list."""
        refunds = [r for r in reversed(self.objects["refund"].values()) if r["charge"] == charge_id]
        return objects.list_object(copy.deepcopy(refunds), f"/v1/charges/{charge_id}/refunds")

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
        limit = params.get("limit") or 10
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
        paths = params.get("expand") or []
        for path in paths:
            if not path.startswith("data."):
                raise invalid_param(
                    "expand",
                    f"This property cannot be expanded ({path}). You may want to try expanding "
                    f"'data.{path}' instead.",
                )
        expand = [path[len("data.") :] for path in paths]
        data = [self.expand(item, expand) for item in page]
        return objects.list_object(data, url, has_more)


def created_filter(bounds: dict[str, int] | None) -> Callable[[int], bool]:
    """Return a predicate for a parsed ``created`` filter (``eq`` or ``gt/gte/lt/lte``)."""
    bounds = bounds or {}

    def matches(created: int) -> bool:
        return (
            ("eq" not in bounds or created == bounds["eq"])
            and ("gt" not in bounds or created > bounds["gt"])
            and ("gte" not in bounds or created >= bounds["gte"])
            and ("lt" not in bounds or created < bounds["lt"])
            and ("lte" not in bounds or created <= bounds["lte"])
        )

    return matches
