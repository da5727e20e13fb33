"""What the ``/v1`` API was asked, and the failures a test asks it to answer with.

``GET /_emulator/requests`` lists every ``/v1`` request received (method, path, query), oldest
first, so a test can count the Stripe calls a page makes. ``POST /_emulator/faults`` with
``{"method": "GET", "path": "/v1/payment_intents/", "times": 1, "status": 500}`` answers the
next ``times`` requests whose path starts with ``path`` with a Stripe ``api_error`` instead,
as Stripe does when it fails. The answer says ``Stripe-Should-Retry: false`` so the SDK does
not hide the failure by retrying: the app sees exactly ``times`` failures.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from .controls import body
from .errors import StripeError, invalid_param

bp = Blueprint("stripe_traffic", __name__, url_prefix="/_emulator")


@dataclass
class Traffic:
    """The requests seen and the faults still to be served; reset with the store."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Forget the requests seen and every fault not yet served."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()


def traffic() -> Traffic:
    """The emulator app's Traffic (created on first use)."""
    return current_app.extensions.setdefault("stripe_traffic", Traffic())


def record_and_fail() -> None:
    """Before every ``/v1`` request: log it, then serve a fault if one matches."""
    seen = traffic()
    with seen.lock:
        query = request.query_string.decode()
        seen.requests.append({"method": request.method, "path": request.path, "query": query})
        fault = next((f for f in seen.faults if _matches(f)), None)
        if fault is None:
            return
        fault["times"] -= 1
    g.injected_fault = True
    raise StripeError(
        "An error occurred with our connection to Stripe (a fault asked for by the test controls).",
        status=fault["status"],
        type="api_error",
    )


def _matches(fault: dict[str, Any]) -> bool:
    return (
        fault["times"] > 0
        and fault["method"] in (None, request.method)
        and request.path.startswith(fault["path"])
    )


def mark_fault(response: Response) -> Response:
    """Tell the SDK not to retry an injected failure (Stripe sends the same header)."""
    if g.get("injected_fault"):
        response.headers["Stripe-Should-Retry"] = "false"
    return response


@bp.get("/requests")
def requests_seen():
    """Every ``/v1`` request received since the last reset, oldest first."""
    seen = traffic()
    with seen.lock:
        return {"requests": list(seen.requests)}


@bp.post("/faults")
def add_fault():
    """Fail the next ``times`` requests to ``path`` (a prefix), of ``method`` when given."""
    sent = body("method", "path", "times", "status")
    path = sent.get("path")
    if not isinstance(path, str) or not path.startswith("/v1/"):
        raise invalid_param("path", "path must be a /v1/… prefix.")
    times = sent.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise invalid_param("times", "times must be a whole number of at least 1.")
    status = sent.get("status", 500)
    if status not in (500, 502, 503, 504):
        raise invalid_param("status", "status must be 500, 502, 503 or 504.")
    method = sent.get("method")
    if method not in (None, "GET", "POST", "DELETE"):
        raise invalid_param("method", "method must be GET, POST or DELETE.")
    fault = {"method": method, "path": path, "times": times, "status": status}
    seen = traffic()
    with seen.lock:
        seen.faults.append(fault)
    return fault
