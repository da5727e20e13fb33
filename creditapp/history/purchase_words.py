"""How a purchase reads in History and its CSV: what it was, and honestly whether money moved.

A Checkout that was cancelled or declined on Stripe's page leaves its purchase `pending`
with no PaymentIntent (Stripe keeps the session open until it expires), so "pending" alone
would read as money on its way. Statuses this module does not know are named as they are,
never dressed up as paid or as nothing charged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PurchaseWords:
    """`what` and `status` for the page; `csv_status` is the status column's machine word."""

    what: str
    status: str
    csv_status: str

    @property
    def csv_description(self) -> str:
        """The CSV's description: what it was, and for a purchase that moved no money, why."""
        if self.csv_status in ("completed", "processing"):
            return self.what
        return f"{self.what} — {self.status[:1].lower()}{self.status[1:]}"


NOTHING_CHARGED = {
    "expired": "Checkout expired, nothing charged",
    "failed": "Payment failed, nothing charged",
    "canceled": "Canceled, nothing charged",
}


def describe(status: str, source: str, credits: int, has_payment: bool) -> PurchaseWords:
    """The words for one purchase row (`has_payment`: Stripe holds a PaymentIntent for it)."""
    automatic = source == "auto_recharge"
    amount = f"{credits:,} credits"
    if automatic:
        what = f"Automatic top-up: {amount}"
    elif status == "completed" or (status == "pending" and has_payment):
        what = f"Bought {amount}"
    else:
        what = f"Checkout of {amount}"
    if status == "completed":
        return PurchaseWords(what, "Paid", "completed")
    if status == "pending" and has_payment:
        return PurchaseWords(what, "Processing", "processing")  # a delayed method, not settled yet
    if status == "pending" and automatic:
        return PurchaseWords(what, "Not charged yet", "pending")
    if status == "pending":
        return PurchaseWords(
            what, "Checkout not completed (cancelled or declined), nothing charged", "not_completed"
        )
    if status in NOTHING_CHARGED:
        return PurchaseWords(what, NOTHING_CHARGED[status], status)
    return PurchaseWords(what, f"Status: {status}", status)
