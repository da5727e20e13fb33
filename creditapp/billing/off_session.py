"""What billing asks of automatic top-up, the domain that charges saved cards off-session.

Billing sees two moments of a top-up without importing it: a Checkout payment saved its
method for later (`keep_payment_method`), and a webhook reports a PaymentIntent made
without Checkout (`purchase_for_intent`, `settle`). `topups.init_app` registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from creditapp.billing.payment_methods import MethodSummary

EXTENSION_KEY = "creditapp.off_session"


@dataclass(frozen=True)
class OffSession:
    """The top-up side of a payment: where a saved method is kept, and how an intent settles."""

    # (wallet id, user id, PaymentMethod id, summary): the wallet the payment filled, who paid.
    keep_payment_method: Callable[[int, int, str, MethodSummary], None]
    purchase_for_intent: Callable[[dict[str, Any]], int | None]
    settle: Callable[[int, dict[str, Any]], str]


def register(app: Flask, off_session: OffSession) -> None:
    """The app's off-session payments (automatic top-up)."""
    app.extensions[EXTENSION_KEY] = off_session


def current() -> OffSession:
    """The current app's off-session payments."""
    return current_app.extensions[EXTENSION_KEY]
