"""Actions on credits, through the ledger: grant, take back, void a lot (on a customer's wallet or
an organization's), release a hold (a customer's)."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from creditapp import ledger
from creditapp.models import LOT_CATEGORIES, CreditLot, CreditSpend
from creditapp.platform.transactions import read
from creditapp.staff.actions.base import (
    MAX_CREDITS,
    Checked,
    Refused,
    Target,
    expiry,
    ledger_refusal,
    trail_target,
    whole_number,
    whose,
)


def adjust(target: Target, actor: int, amount: int, reason: str, **lot) -> ledger.Granted:
    """A grant (positive) or debit (negative) on the target's wallet, made by the staff member."""
    try:
        return ledger.grant(
            target.records_as, amount, reason, admin_user_id=actor, wallet_id=target.wallet_id, **lot
        )
    except ledger.LedgerError as exc:
        raise ledger_refusal(exc) from exc


def check_grant(target: Target, form: Mapping[str, str]) -> Checked:
    """Grant credits: a lot of their own with the category, priority and expiry chosen."""
    amount = whole_number(form, "amount", "The amount", 1, MAX_CREDITS)
    category = form.get("category") or "promotional"
    if category not in LOT_CATEGORIES:
        raise Refused("The category is paid or promotional.")
    priority = whole_number(form, "priority", "The priority", 0, 100, default=50)
    expires_at = expiry(form)

    def act(actor: int, reason: str, token: str) -> str:
        lot = {"category": category, "priority": priority, "expires_at": expires_at}
        granted = adjust(target, actor, amount, reason, **lot)
        return f"Granted {amount:,} credits (lot {granted.lot_id}); the balance is now {granted.balance:,}."

    until = f", expiring {expires_at:%Y-%m-%d}" if expires_at else ", never expiring"
    return Checked(
        *trail_target(target, "user", target.id),
        {
            "amount": amount,
            "category": category,
            "priority": priority,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        f"Grant {amount:,} {category} credits at priority {priority}{until}.",
        act,
    )


def check_take_back(target: Target, form: Mapping[str, str]) -> Checked:
    """Take credits back: a debit from the live lots in spend order (never below zero)."""
    amount = whole_number(form, "amount", "The amount", 1, MAX_CREDITS)
    available = ledger.wallet_balance(target.wallet_id).credits
    if amount > available:
        raise Refused(f"{whose(target)} has only {available:,} credits to take back.")

    def act(actor: int, reason: str, token: str) -> str:
        taken = adjust(target, actor, -amount, reason)
        return f"Took back {amount:,} credits; the balance is now {taken.balance:,}."

    return Checked(
        *trail_target(target, "user", target.id), {"amount": amount}, f"Take back {amount:,} credits.", act
    )


def check_void_lot(target: Target, form: Mapping[str, str]) -> Checked:
    """Void a lot of this wallet's: its remaining credits leave the balance at once."""
    lot_id = whole_number(form, "lot_id", "The lot", 1, 2**62)
    with read() as session:
        lot = session.execute(
            sa.select(CreditLot.remaining, CreditLot.voided_at).where(
                CreditLot.id == lot_id, CreditLot.wallet_id == target.wallet_id
            )
        ).one_or_none()
    if lot is None:
        raise Refused(f"{whose(target)} has no lot {lot_id}.", 404)
    if lot.voided_at is not None:
        raise Refused(f"Lot {lot_id} is voided already.")

    def act(actor: int, reason: str, token: str) -> str:
        try:
            voided = ledger.void_lot(lot_id, reason, staff_user_id=actor)
        except ledger.LedgerError as exc:
            raise ledger_refusal(exc) from exc
        return f"Voided lot {lot_id}: {voided:,} credits left the balance."

    return Checked(
        *trail_target(target, "lot", lot_id),
        {"lot_id": lot_id},
        f"Void lot {lot_id} ({lot.remaining:,} credits left in it).",
        act,
    )


def check_release_hold(customer: Target, form: Mapping[str, str]) -> Checked:
    """Release a stuck hold: its credits go back to the lots they came from."""
    user_id = customer.id
    spend_id = whole_number(form, "spend_id", "The hold", 1, 2**62)
    with read() as session:
        spend = session.execute(
            sa.select(CreditSpend.credits_spent, CreditSpend.status).where(
                CreditSpend.id == spend_id, CreditSpend.user_id == user_id
            )
        ).one_or_none()
    if spend is None:
        raise Refused(f"This customer has no hold {spend_id}.", 404)
    if spend.status != "held":
        raise Refused(f"Spend {spend_id} is {spend.status}, not held.")

    def act(actor: int, reason: str, token: str) -> str:
        released = ledger.release(spend_id)
        return (
            f"Released hold {spend_id}: {spend.credits_spent:,} credits back."
            if released
            else (f"Hold {spend_id} had already settled; nothing changed.")
        )

    return Checked(
        "spend",
        str(spend_id),
        {"spend_id": spend_id},
        f"Release hold {spend_id} ({spend.credits_spent:,} credits).",
        act,
    )
