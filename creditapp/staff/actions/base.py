"""What every staff action is made of: its target, the checked request, the refusal, and the
form helpers.

An action is `check` (the target and the form → `Checked`, or `Refused` with a clear message
and a 4xx status: nothing is written) and `act` (the change, returning its outcome in words).
`joined` says whether the domain function commits the app's session, so that the trail
row can share its transaction (see `staff.trail`). `on` says what it may act on: a customer,
an organization (its wallet), or nothing in particular (replaying a Stripe event).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa

from creditapp import ledger
from creditapp.models import Organization, User, utcnow
from creditapp.platform.transactions import read

MAX_CREDITS = 10_000_000
CUSTOMER = "customer"
ORGANIZATION = "organization"


@dataclass(frozen=True)
class Target:
    """Whom an action acts on: a customer (`id` a user id) or an organization (an organization id).

    `wallet_id` is the wallet its credit actions move. `records_as` is the user the ledger
    records its adjustments under: the customer, or for an organization its creator (as the
    ledger records an organization's expiries and voids, and `flask credits grant --org`).
    """

    kind: str
    id: int
    wallet_id: int
    records_as: int

    @property
    def key(self) -> str:
        """What a confirmation's token is bound to: `customer:7`, `organization:3`."""
        return f"{self.kind}:{self.id}"

    @property
    def is_organization(self) -> bool:
        """Whether this is an organization's wallet (else a customer's)."""
        return self.kind == ORGANIZATION


def find_target(kind: str, target_id: int) -> Target | None:
    """The customer or organization with this id, or None."""
    if kind == CUSTOMER:
        query = sa.select(User.wallet_id, User.id).where(User.id == target_id)
    elif kind == ORGANIZATION:
        query = sa.select(Organization.wallet_id, Organization.created_by).where(Organization.id == target_id)
    else:
        raise ValueError(f"an action acts on a {CUSTOMER} or an {ORGANIZATION}, not {kind!r}")
    with read() as session:
        row = session.execute(query).one_or_none()
    return None if row is None else Target(kind, target_id, row[0], row[1])


def whose(target: Target) -> str:
    """The wallet's holder in a refusal: "This customer" or "This organization"."""
    return "This organization" if target.is_organization else "This customer"


def trail_target(target: Target, kind: str, target_id: int) -> tuple[str, str]:
    """What the trail row names as the target: for an organization always the organization
    (a lot goes into the parameters), so that its page finds every action on its wallet."""
    return (target.kind, str(target.id)) if target.is_organization else (kind, str(target_id))


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
    check: Callable[[Any, Mapping[str, str]], Checked]  # (Target, or None for `on=()`, form)
    # What it acts on (CUSTOMER, ORGANIZATION); empty: nothing in particular (replaying a
    # Stripe event), posted to /admin/actions/<name>
    on: tuple[str, ...] = (CUSTOMER,)


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


def ledger_refusal(exc: ledger.LedgerError) -> Refused:
    """A refusal of the ledger's rules (a debit below zero, …) in the console's words."""
    return Refused(f"The ledger refused: {exc}.")
