"""Small helpers for htmx requests and responses."""

from __future__ import annotations

import json

from flask import Response, request

STOP_POLLING = 286  # htmx stops a polling trigger when it gets this status


def is_htmx() -> bool:
    """True when the request was made by htmx."""
    return request.headers.get("HX-Request") == "true"


def wants_json() -> bool:
    """True for the JSON API (`/api/...`) and clients that only accept JSON."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def trigger(response: Response, event: str, detail: dict | None = None) -> Response:
    """Add an `HX-Trigger` event (merging with any already set)."""
    existing = response.headers.get("HX-Trigger")
    events: dict = {}
    if existing:
        try:
            events = json.loads(existing)
        except ValueError:
            events = {name.strip(): None for name in existing.split(",")}
    events[event] = detail
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def redirect(response: Response, url: str) -> Response:
    """Ask htmx to do a full-page navigation to `url`."""
    response.headers["HX-Redirect"] = url
    return response


def vary_on_htmx(response: Response) -> Response:
    """Fragments and pages share URLs, so caches must key on HX-Request."""
    response.vary.add("HX-Request")
    return response
