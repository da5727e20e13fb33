"""What staff may do to a customer: each action checks its form, says what it will do, then acts
through the ledger or the domain's own function (never by editing a row).

An action is `check` (the form → `Checked`, or `Refused` with a clear message and a 4xx
status: nothing is written) and `act` (the change, returning its outcome in words).
`joined` says whether the domain function commits the app's session, so that the trail
row can share its transaction (see `trail`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa

from creditapp import ledger
from creditapp.accounts import api_keys, sessions
from creditapp.billing import refunds, stripe_events
from creditapp.jobs import records
from creditapp.jobs import service as jobs
from creditapp.models import LOT_CATEGORIES, CreditLot, CreditSpend, StripeEvent, User, utcnow
from creditapp.platform.money import format_money
from creditapp.platform.transactions import read
from creditapp.topups import settings as topups

MAX_CREDITS = 10_000_000


class Refused(Exception):
    """The form cannot be acted on; nothing was written. `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Checked:
    """A checked request: what the confirmation says and what the trail records."""

    target_type: str
    target_id: str
    parameters: dict[str, Any]
    confirm: str  # "Grant 100 promotional credits …"
    # (actor id, reason, the confirmation's one-time token) -> the outcome in words
    act: Callable[[int, str, str], str] = field(repr=False)


@dataclass(frozen=True)
class Action:
    """One kind of staff action."""

    name: str
    title: str
    joined: bool
    check: Callable[[int | None, Mapping[str, str]], Checked]
    # False: not about one customer (replaying a Stripe event), posted to /admin/actions/<name>
    per_customer: bool = True


def _int(
    form: Mapping[str, str], name: str, what: str, low: int, high: int, default: int | None = None
) -> int:
    raw = (form.get(name) or "").strip().replace(",", "")
    if not raw and default is not None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Refused(f"{what} must be a whole number.") from None
    if not low <= value <= high:
        raise Refused(f"{what} must be from {low:,} to {high:,}.")
    return value


def _expiry(form: Mapping[str, str]) -> datetime | None:
    raw = (form.get("expires_on") or "").strip()
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise Refused("The expiry must be a date (YYYY-MM-DD).") from None
    at = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    if at <= utcnow():
        raise Refused("The expiry must be in the future.")
    return at


def _user_wallet(user_id: int) -> int:
    with read() as session:
        wallet_id = session.execute(sa.select(User.wallet_id).where(User.id == user_id)).scalar_one_or_none()
    if wallet_id is None:
        raise Refused("No such customer.", 404)
    return wallet_id


def _ledger_refusal(exc: ledger.LedgerError) -> Refused:
    return Refused(f"The ledger refused: {exc}.")


# --- the actions -----------------------------------------------------------------------------


def check_grant(user_id: int, form: Mapping[str, str]) -> Checked:
    """Grant credits: a lot of their own with the category, priority and expiry chosen."""
    amount = _int(form, "amount", "The amount", 1, MAX_CREDITS)
    category = form.get("category") or "promotional"
    if category not in LOT_CATEGORIES:
        raise Refused("The category is paid or promotional.")
    priority = _int(form, "priority", "The priority", 0, 100, default=50)
    expires_at = _expiry(form)

    def act(actor: int, reason: str, token: str) -> str:
        try:
            granted = ledger.grant(
                user_id,
                amount,
                reason,
                admin_user_id=actor,
                category=category,
                priority=priority,
                expires_at=expires_at,
            )
        except ledger.LedgerError as exc:
            raise _ledger_refusal(exc) from exc
        return f"Granted {amount:,} credits (lot {granted.lot_id}); the balance is now {granted.balance:,}."

    until = f", expiring {expires_at:%Y-%m-%d}" if expires_at else ", never expiring"
    return Checked(
        "user",
        str(user_id),
        {
            "amount": amount,
            "category": category,
            "priority": priority,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        f"Grant {amount:,} {category} credits at priority {priority}{until}.",
        act,
    )


def check_take_back(user_id: int, form: Mapping[str, str]) -> Checked:
    """Take credits back: a debit from the live lots in spend order (never below zero)."""
    amount = _int(form, "amount", "The amount", 1, MAX_CREDITS)
    if amount > ledger.balance(user_id).credits:
        raise Refused(f"The customer has only {ledger.balance(user_id).credits:,} credits to take back.")

    def act(actor: int, reason: str, token: str) -> str:
        try:
            taken = ledger.grant(user_id, -amount, reason, admin_user_id=actor)
        except ledger.LedgerError as exc:
            raise _ledger_refusal(exc) from exc
        return f"Took back {amount:,} credits; the balance is now {taken.balance:,}."

    return Checked("user", str(user_id), {"amount": amount}, f"Take back {amount:,} credits.", act)


def check_void_lot(user_id: int, form: Mapping[str, str]) -> Checked:
    """Void a lot of this customer's: its remaining credits leave the balance at once."""
    lot_id = _int(form, "lot_id", "The lot", 1, 2**62)
    wallet_id = _user_wallet(user_id)
    with read() as session:
        lot = session.execute(
            sa.select(CreditLot.remaining, CreditLot.voided_at).where(
                CreditLot.id == lot_id, CreditLot.wallet_id == wallet_id
            )
        ).one_or_none()
    if lot is None:
        raise Refused(f"This customer has no lot {lot_id}.", 404)
    if lot.voided_at is not None:
        raise Refused(f"Lot {lot_id} is voided already.")

    def act(actor: int, reason: str, token: str) -> str:
        try:
            voided = ledger.void_lot(lot_id, reason, staff_user_id=actor)
        except ledger.LedgerError as exc:
            raise _ledger_refusal(exc) from exc
        return f"Voided lot {lot_id}: {voided:,} credits left the balance."

    return Checked(
        "lot",
        str(lot_id),
        {"lot_id": lot_id},
        f"Void lot {lot_id} ({lot.remaining:,} credits left in it).",
        act,
    )


def check_release_hold(user_id: int, form: Mapping[str, str]) -> Checked:
    """Release a stuck hold: its credits go back to the lots they came from."""
    spend_id = _int(form, "spend_id", "The hold", 1, 2**62)
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


def check_cancel_job(user_id: int, form: Mapping[str, str]) -> Checked:
    """Cancel a queued job: it will not run, and its hold is given back."""
    try:
        job_id = uuid.UUID((form.get("job_id") or "").strip())
    except ValueError:
        raise Refused("That is not a job id.") from None
    job = records.find(job_id, user_id)
    if job is None:
        raise Refused(f"This customer has no job {job_id}.", 404)
    if job.status != "queued":
        raise Refused(f"Job {job_id} is {job.status}: only a queued job can be canceled.")

    def act(actor: int, reason: str, token: str) -> str:
        try:
            jobs.cancel(user_id, job_id)
        except jobs.JobNotCancelable as exc:
            return f"Job {job_id} was {exc.job.status} by then; nothing changed."
        return f"Canceled job {job_id}; its {job.cost:,} credits went back."

    return Checked("job", str(job_id), {"job_id": str(job_id)}, f"Cancel job {job_id} ({job.feature}).", act)


def check_revoke_key(user_id: int, form: Mapping[str, str]) -> Checked:
    """Revoke one of the customer's API keys: programs using it stop at once."""
    key_id = _int(form, "key_id", "The key", 1, 2**62)
    key = api_keys.find_key(user_id, key_id)
    if key is None:
        raise Refused(f"This customer has no API key {key_id}.", 404)
    if key.revoked_at is not None:
        raise Refused(f"Key {key.prefix}… is revoked already.")

    def act(actor: int, reason: str, token: str) -> str:
        done = api_keys.revoke_key(user_id, key_id)
        return f"Revoked key {key.prefix}…." if done else f"Key {key.prefix}… was revoked already."

    return Checked(
        "api_key", str(key_id), {"key_id": key_id}, f"Revoke the API key “{key.name}” ({key.prefix}…).", act
    )


def check_switch_topup_off(user_id: int, form: Mapping[str, str]) -> Checked:
    """Switch automatic top-up off (the card stays saved; the customer may switch it on again)."""
    if not topups.settings_for(user_id).enabled:
        raise Refused("Automatic top-up is off already.")

    def act(actor: int, reason: str, token: str) -> str:
        done = topups.switch_off(user_id, "Switched off by support.")
        return "Switched automatic top-up off." if done else "Automatic top-up was off already."

    return Checked("user", str(user_id), {}, "Switch automatic top-up off.", act)


def check_sign_out_everywhere(user_id: int, form: Mapping[str, str]) -> Checked:
    """Sign the customer out on every device."""
    _user_wallet(user_id)

    def act(actor: int, reason: str, token: str) -> str:
        sessions.sign_out_everywhere(user_id)
        return "Signed the customer out everywhere."

    return Checked("user", str(user_id), {}, "Sign the customer out on every device.", act)


def check_refund(user_id: int, form: Mapping[str, str]) -> Checked:
    """Refund a purchase through Stripe, all that is left or part (in minor units); the webhook claws back."""
    purchase_id = _int(form, "purchase_id", "The purchase", 1, 2**62)
    try:
        found = refunds.refundable(purchase_id, user_id)
    except refunds.NotRefundable as exc:
        raise Refused(f"Not refundable: {exc}.") from None
    if found is None:
        raise Refused(f"This customer has no purchase {purchase_id}.", 404)
    if found.left <= 0:
        raise Refused(f"Purchase {purchase_id} is refunded in full already.")
    amount = _int(form, "amount", "The amount to refund (in cents)", 1, found.left, default=found.left)
    words = format_money(amount, found.currency)

    def act(actor: int, reason: str, token: str) -> str:
        try:
            refund_id = refunds.refund(found, amount, f"staff-refund-{token}", reason)
        except refunds.NotRefundable as exc:
            raise Refused(f"Not refundable: {exc}.") from None
        return f"Stripe refund {refund_id} of {words} created; its webhook takes the credits back."

    whole = "in full" if amount == found.left else "in part"
    return Checked(
        "purchase",
        str(purchase_id),
        {"purchase_id": purchase_id, "amount": amount, "currency": found.currency},
        f"Refund {words} of purchase {purchase_id} through Stripe ({whole}).",
        act,
    )


def check_replay_event(user_id: int | None, form: Mapping[str, str]) -> Checked:
    """Run a stored Stripe event that failed (or was ignored) through its handler again."""
    event_id = (form.get("event_id") or "").strip()
    with read() as session:
        status = session.execute(
            sa.select(StripeEvent.status).where(StripeEvent.id == event_id)
        ).scalar_one_or_none()
    if status is None:
        raise Refused(f"No stored Stripe event {event_id or '(none given)'}.", 404)
    if status == "processed":
        raise Refused(f"Event {event_id} was processed already.")

    def act(actor: int, reason: str, token: str) -> str:
        receipt = stripe_events.replay(event_id)
        return f"Replayed {event_id} ({receipt.type}): {receipt.status}" + (
            f" — {receipt.error}" if receipt.error else "."
        )

    return Checked(
        "stripe_event", event_id, {"event_id": event_id}, f"Replay Stripe event {event_id} ({status}).", act
    )


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("grant", "Grant credits", True, check_grant),
        Action("take_back", "Take credits back", True, check_take_back),
        Action("void_lot", "Void a lot", True, check_void_lot),
        Action("release_hold", "Release a stuck hold", False, check_release_hold),
        Action("cancel_job", "Cancel a job", False, check_cancel_job),
        Action("revoke_key", "Revoke an API key", True, check_revoke_key),
        Action("switch_topup_off", "Switch automatic top-up off", True, check_switch_topup_off),
        Action("sign_out_everywhere", "Sign out everywhere", True, check_sign_out_everywhere),
        Action("refund", "Refund a purchase", False, check_refund),
        Action("replay_event", "Replay a Stripe event", False, check_replay_event, per_customer=False),
    )
}
