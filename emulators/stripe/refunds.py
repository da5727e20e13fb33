"""Refunds through their whole life: created (pending or succeeded), succeeded, failed, canceled.

A refund counts against the charge's ``amount_refunded`` while it is ``pending`` or
``succeeded``; when it fails or is canceled its amount goes back, as Stripe does.
"""

from __future__ import annotations

from typing import Any

from . import objects, payment_objects
from .errors import StripeError, invalid_param, missing_param, state_error
from .state import Store

FAILURE_REASONS = (
    "charge_for_pending_refund_disputed", "declined", "expired_or_canceled_card",
    "insufficient_funds", "lost_or_stolen_card", "merchant_request", "unknown",
)  # fmt: skip
INITIAL_STATUSES = ("succeeded", "pending")


def create(
    store: Store,
    params: dict[str, Any],
    request: dict[str, Any] | None,
    status: str = "succeeded",
    charge_less: bool = False,
) -> dict[str, Any]:
    """Refund all or part of a charge, found by ``charge`` or ``payment_intent``.

    ``charge_less``: the Refund names no charge (``charge: null``), as Stripe reports the
    refunds of some payment methods; it still belongs to the PaymentIntent.
    """
    charge = _refundable_charge(store, params.get("charge"), params.get("payment_intent"))
    if _chargeback_holds(store, charge["id"]):
        raise StripeError(
            f"Charge {charge['id']} has been charged back; you cannot refund a disputed charge.",
            code="charge_disputed",
            param="charge",
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining == 0:
        raise StripeError(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    amount = params.get("amount", remaining)
    if amount <= 0:
        raise StripeError("Invalid positive integer", code="parameter_invalid_integer", param="amount")
    if amount > remaining:
        raise StripeError(
            f"Refund amount ({_money(amount, charge)}) is greater than unrefunded amount "
            f"on charge ({_money(remaining, charge)})",
            code="amount_too_large",
            param="amount",
        )
    refund = store.add(
        payment_objects.refund(charge, amount, params.get("reason"), params.get("metadata") or {}, status)
    )
    if charge_less:
        refund["charge"] = None
    previous = _move_charge(charge, amount)
    store.emit("refund.created", refund, request=request)
    store.emit("charge.refunded", charge, request=request, previous_attributes=previous)
    return refund


def succeed(store: Store, refund_id: str) -> dict[str, Any]:
    """Settle a pending refund: ``refund.updated`` + ``charge.refund.updated``."""
    refund = store.get("refund", refund_id)
    if refund["status"] != "pending":
        raise state_error(f"Refund {refund_id} is {refund['status']}; only a pending refund can succeed.")
    previous = {"status": refund["status"]}
    refund["status"] = "succeeded"
    store.emit("refund.updated", refund, previous_attributes=previous)
    store.emit("charge.refund.updated", refund, previous_attributes=previous)
    return refund


def fail(store: Store, refund_id: str, reason: Any = None) -> dict[str, Any]:
    """Fail a pending or succeeded refund: its amount goes back onto the charge.

    Events, as Stripe sends them: ``refund.updated``, ``refund.failed``, ``charge.refund.updated``.
    """
    refund = store.get("refund", refund_id)
    reason = reason or "expired_or_canceled_card"
    if reason not in FAILURE_REASONS:
        raise invalid_param(
            "failure_reason", f"Invalid failure_reason: must be one of {', '.join(FAILURE_REASONS)}"
        )
    if refund["status"] not in ("pending", "succeeded"):
        raise state_error(f"Refund {refund_id} is {refund['status']} and can no longer fail.")
    previous = {"status": refund["status"]}
    charge = _charge_of(store, refund)
    refund.update(status="failed", failure_reason=reason, failure_balance_transaction=objects.new_id("txn_"))
    _move_charge(charge, -refund["amount"])
    store.emit("refund.updated", refund, previous_attributes=previous)
    store.emit("refund.failed", refund, previous_attributes=previous)
    store.emit("charge.refund.updated", refund, previous_attributes=previous)
    return refund


def cancel(store: Store, refund_id: str) -> dict[str, Any]:
    """Cancel a pending refund: its amount goes back onto the charge."""
    refund = store.get("refund", refund_id)
    if refund["status"] != "pending":
        raise state_error(f"Refund {refund_id} is {refund['status']}; only a pending refund can be canceled.")
    previous = {"status": refund["status"]}
    charge = _charge_of(store, refund)
    refund["status"] = "canceled"
    _move_charge(charge, -refund["amount"])
    store.emit("refund.updated", refund, previous_attributes=previous)
    store.emit("charge.refund.updated", refund, previous_attributes=previous)
    return refund


def _charge_of(store: Store, refund: dict[str, Any]) -> dict[str, Any]:
    """The charge a refund moved: named, or (a charge-less refund) its PaymentIntent's."""
    if refund["charge"]:
        return store.get("charge", refund["charge"])
    return store.get("charge", store.get("payment_intent", refund["payment_intent"])["latest_charge"])


def _move_charge(charge: dict[str, Any], amount: int) -> dict[str, Any]:
    """Add ``amount`` (negative: give back) to ``amount_refunded``; return the old values."""
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    return previous


def _chargeback_holds(store: Store, charge_id: str) -> bool:
    """True while a chargeback (not an inquiry) on the charge is open or was lost."""
    return any(
        dispute["charge"] == charge_id and dispute["status"] in ("needs_response", "under_review", "lost")
        for dispute in store.objects["dispute"].values()
    )


def _refundable_charge(store: Store, charge_id: str | None, intent_id: str | None) -> dict[str, Any]:
    if not charge_id and not intent_id:
        raise missing_param(
            "charge",
            "One of the following params should be provided for this request: payment_intent or charge.",
        )
    if intent_id:
        intent = store.get("payment_intent", intent_id, param="payment_intent", status=400)
        if intent["status"] != "succeeded" or not intent["latest_charge"]:
            raise StripeError(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        if charge_id and charge_id != intent["latest_charge"]:
            raise invalid_param("charge", "The charge does not belong to this PaymentIntent.")
        charge_id = intent["latest_charge"]
    return store.get("charge", charge_id, param="charge", status=400)


def _money(amount: int, charge: dict[str, Any]) -> str:
    symbol = "$" if charge["currency"] == "usd" else charge["currency"].upper() + " "
    return f"{symbol}{amount / 100:.2f}"
