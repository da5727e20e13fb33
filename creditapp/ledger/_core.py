"""Shared parts of the ledger: errors, results, balance writes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from creditapp.models import CreditAdjustment, CreditPurchase, CreditSpend, User

log = logging.getLogger("creditapp.ledger")

users = User.__table__
spends = CreditSpend.__table__
purchases = CreditPurchase.__table__
adjustments = CreditAdjustment.__table__


class LedgerError(Exception):
    """Base class for refusals the caller can show to a person."""


class InsufficientCredits(LedgerError):
    """The balance does not cover the cost; nothing was charged."""

    def __init__(self, balance: int, required: int) -> None:
        super().__init__(f"insufficient credits: balance {balance}, required {required}")
        self.balance = balance
        self.required = required


class UnknownUser(LedgerError):
    """No user has that id or e-mail."""


class UnknownPurchase(LedgerError):
    """No purchase matches; a webhook naming it is a permanent failure."""


class EmailTaken(LedgerError):
    """Another Google account already signed up with this e-mail."""


class InvalidAmount(LedgerError):
    """An amount that makes no sense for the operation (zero, or a debit below zero)."""


@dataclass(frozen=True)
class SpendResult:
    """Outcome of a hold: the spend row and the balance after it."""

    spend_id: int
    status: str
    credits_spent: int
    balance: int
    replayed: bool
    fingerprint: str | None = None


@dataclass(frozen=True)
class Balance:
    """A user's spendable balance and the credits currently held."""

    credits: int
    held: int


ADD_TO_BALANCE = (
    sa.update(users)
    .where(users.c.id == sa.bindparam("user_id"))
    .values(credits=users.c.credits + sa.bindparam("amount"))
    .returning(users.c.credits)
)


def add_to_balance(session: sa.orm.Session | sa.Connection, user_id: int, amount: int) -> int:
    """Add a signed amount to a balance in one statement; returns the new balance."""
    new = session.execute(ADD_TO_BALANCE, {"user_id": user_id, "amount": amount}).scalar_one_or_none()
    if new is None:
        raise UnknownUser(f"no user with id {user_id}")
    return new


def log_write(user_id: int, operation: str, amount: int, balance: int) -> None:
    """One log line per balance change: who, what, how much, and the balance after."""
    log.info(
        f"ledger {operation}",
        extra={"user_id": user_id, "operation": operation, "amount": amount, "balance": balance},
    )
