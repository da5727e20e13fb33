"""What every staff action is made of: the checked request, the refusal, and the form helpers.

An action is `check` (the form → `Checked`, or `Refused` with a clear message and a 4xx
status: nothing is written) and `act` (the change, returning its outcome in words).
`joined` says whether the domain function commits the app's session, so that the trail
row can share its transaction (see `staff.trail`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa

from creditapp import ledger
from creditapp.models import User, utcnow
from creditapp.platform.transactions import read

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


def whole_number(
    form: Mapping[str, str], name: str, what: str, low: int, high: int, default: int | None = None
) -> int:
    """The form's field `name` as a whole number from `low` to `high` (`default` when empty)."""
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


def expiry(form: Mapping[str, str]) -> datetime | None:
    """The form's `expires_on` date as the end of that day (UTC), None when empty; never past."""
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


def user_wallet(user_id: int) -> int:
    """The customer's personal wallet id (404 when there is no such customer)."""
    with read() as session:
        wallet_id = session.execute(sa.select(User.wallet_id).where(User.id == user_id)).scalar_one_or_none()
    if wallet_id is None:
        raise Refused("No such customer.", 404)
    return wallet_id


def ledger_refusal(exc: ledger.LedgerError) -> Refused:
    """A refusal of the ledger's rules (a debit below zero, …) in the console's words."""
    return Refused(f"The ledger refused: {exc}.")
