"""Disputes through their whole life: inquiries, chargebacks, escalation, won and lost.

A chargeback withdraws the disputed amount at once (a balance transaction on the dispute,
``charge.dispute.funds_withdrawn``); an inquiry moves no money until it escalates; a won
chargeback reinstates the funds (``charge.dispute.funds_reinstated``).
"""

from __future__ import annotations

from typing import Any

from . import payment_objects
from .errors import invalid_param, state_error
from .state import Store

REASONS = (
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
    "debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details",
    "insufficient_funds", "product_not_received", "product_unacceptable", "subscription_canceled",
    "unrecognized",
)  # fmt: skip
OPEN = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
INQUIRY_OPEN = ("warning_needs_response", "warning_under_review")
CHARGEBACK_OPEN = ("needs_response", "under_review")
OUTCOMES = ("won", "lost", "warning_closed")


def open_dispute(
    store: Store, charge_id: str, amount: Any = None, reason: Any = None, inquiry: Any = False
) -> dict[str, Any]:
    """Open a chargeback (funds withdrawn) or an inquiry on a charge.

    The amount defaults to what is left unrefunded on the charge.
    """
    charge = store.get("charge", charge_id)
    if any(d["charge"] == charge_id and d["status"] in OPEN for d in store.objects["dispute"].values()):
        raise state_error(f"Charge {charge_id} already has an open dispute.", "charge_disputed")
    if not isinstance(inquiry, bool):
        raise invalid_param("inquiry", f"Invalid boolean: {inquiry}")
    reason = reason or "fraudulent"
    if reason not in REASONS:
        raise invalid_param("reason", f"Invalid reason: must be one of {', '.join(REASONS)}")
    unrefunded = charge["amount"] - charge["amount_refunded"]
    if amount is None:
        amount = unrefunded
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise invalid_param("amount", f"Invalid positive integer: {amount}", "parameter_invalid_integer")
    if amount > unrefunded:
        raise invalid_param(
            "amount", f"A dispute cannot exceed the unrefunded amount ({unrefunded}).", "amount_too_large"
        )
    status = "warning_needs_response" if inquiry else "needs_response"
    dispute = store.add(payment_objects.dispute(charge, amount, reason, status))
    charge["disputed"] = True
    if not inquiry:  # a chargeback's funds leave with its creation, as the created event shows
        _add_withdrawal(store, dispute, charge)
    store.emit("charge.dispute.created", dispute)
    if not inquiry:
        store.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def escalate(store: Store, dispute_id: str) -> dict[str, Any]:
    """Turn an open inquiry into a chargeback: ``charge.dispute.updated`` + ``funds_withdrawn``."""
    dispute = store.get("dispute", dispute_id)
    if dispute["status"] not in INQUIRY_OPEN:
        raise state_error(f"Dispute {dispute_id} is {dispute['status']}; only an open inquiry can escalate.")
    previous = {"status": dispute["status"], "is_charge_refundable": dispute["is_charge_refundable"]}
    dispute.update(status="needs_response", is_charge_refundable=False)
    _add_withdrawal(store, dispute, store.get("charge", dispute["charge"]))
    store.emit("charge.dispute.updated", dispute, previous_attributes=previous)
    store.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def close(
    store: Store, dispute_id: str, outcome: Any, request: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Close a dispute: a chargeback is ``won`` or ``lost``, an inquiry ``warning_closed``."""
    dispute = store.get("dispute", dispute_id)
    if outcome not in OUTCOMES:
        raise invalid_param("outcome", "Invalid outcome: must be one of won, lost, or warning_closed")
    if dispute["status"] not in OPEN:
        raise state_error(f"Dispute {dispute_id} is already closed ({dispute['status']}).")
    inquiry = dispute["status"] in INQUIRY_OPEN
    if inquiry and outcome != "warning_closed":
        raise state_error(
            f"Dispute {dispute_id} is an inquiry: it closes as warning_closed, or escalates first."
        )
    if not inquiry and outcome == "warning_closed":
        raise state_error(f"Dispute {dispute_id} is a chargeback: it closes as won or lost.")
    previous = {"status": dispute["status"]}
    dispute["status"] = outcome
    if outcome == "won":
        dispute["is_charge_refundable"] = True
        _add_reinstatement(store, dispute)
    store.emit("charge.dispute.closed", dispute, request=request, previous_attributes=previous)
    if outcome == "won":
        store.emit("charge.dispute.funds_reinstated", dispute)
    return dispute


def accept(store: Store, dispute_id: str, request: dict[str, Any] | None) -> dict[str, Any]:
    """``POST /v1/disputes/:id/close``: give up a chargeback (lost) or dismiss an inquiry."""
    dispute = store.get("dispute", dispute_id)
    outcome = "warning_closed" if dispute["status"] in INQUIRY_OPEN else "lost"
    return close(store, dispute_id, outcome, request)


def _add_withdrawal(store: Store, dispute: dict[str, Any], charge: dict[str, Any]) -> None:
    txn = payment_objects.balance_transaction(
        -dispute["amount"],
        dispute["currency"],
        dispute["id"],
        fee=payment_objects.DISPUTE_FEE,
        kind="adjustment",
        category="dispute",
        description=f"Chargeback withdrawal for {charge['id']}",
    )
    store.add(txn)
    dispute["balance_transactions"].append(dict(txn))


def _add_reinstatement(store: Store, dispute: dict[str, Any]) -> None:
    txn = payment_objects.balance_transaction(
        dispute["amount"],
        dispute["currency"],
        dispute["id"],
        fee=0,
        kind="adjustment",
        category="dispute_reversal",
        description=f"Chargeback reversal for {dispute['charge']}",
    )
    store.add(txn)
    dispute["balance_transactions"].append(dict(txn))
