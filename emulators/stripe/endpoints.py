"""Webhook endpoints (``/v1/webhook_endpoints``): each gets its enabled events, signed with its secret."""

from __future__ import annotations

import re
import secrets
from typing import Any

from . import objects
from .catalog import merge_metadata
from .errors import invalid_param, no_such
from .state import Store

_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")


def create(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Create an endpoint; the answer is the only one that shows its signing ``secret``."""
    url = _url(params["url"])
    events = _events(params["enabled_events"])
    api_version = params.get("api_version")
    if api_version is not None and not _API_VERSION.fullmatch(api_version):
        raise invalid_param("api_version", f"Invalid API version: {api_version}")
    endpoint = store.add(
        objects.webhook_endpoint(
            url,
            events,
            description=params.get("description"),
            metadata=params.get("metadata") or {},
            api_version=api_version,
        )
    )
    secret = "whsec_" + secrets.token_urlsafe(24)
    store.endpoint_secrets[endpoint["id"]] = secret
    return {**endpoint, "secret": secret}


def update(store: Store, endpoint_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Change an endpoint's URL, events, description, metadata or ``disabled`` state."""
    endpoint = store.get("webhook_endpoint", endpoint_id)
    if "url" in params:
        endpoint["url"] = _url(params["url"])
    if "enabled_events" in params:
        endpoint["enabled_events"] = _events(params["enabled_events"])
    if "description" in params:
        endpoint["description"] = params["description"]
    if "metadata" in params:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], params["metadata"])
    if params.get("disabled") is not None:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    return endpoint


def delete(store: Store, endpoint_id: str) -> dict[str, Any]:
    """Delete an endpoint: it receives nothing more, retries included."""
    if store.objects["webhook_endpoint"].pop(endpoint_id, None) is None:
        raise no_such("webhook_endpoint", endpoint_id)
    store.endpoint_secrets.pop(endpoint_id, None)
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def _url(url: str) -> str:
    if not re.match(r"https?://[^/\s]+", url):
        raise invalid_param("url", f"Invalid URL: {url}", "url_invalid")
    return url


def _events(events: list[str]) -> list[str]:
    if not events:
        raise invalid_param("enabled_events", "enabled_events must name at least one event type.")
    if "*" in events and len(events) > 1:
        raise invalid_param("enabled_events", "`*` enables every event and cannot be combined with others.")
    return list(dict.fromkeys(events))
