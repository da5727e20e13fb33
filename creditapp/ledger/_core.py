"""Shared parts of the ledger: errors, results, balance writes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from creditapp.models import (
    CreditAdjustment,
    CreditLot,
    CreditLotDraw,
    CreditLotEntry,
    CreditPurchase,
    CreditSpend,
    Organization,
    User,
    Wallet,
    personal_wallet,
)

log = logging.getLogger("creditapp.ledger")

users = User.__table__
wallets = Wallet.__table__
lots = CreditLot.__table__
draws = CreditLotDraw.__table__
lot_entries = CreditLotEntry.__table__
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
    # What the hold took (a metered capture may have charged less since); None for old rows.
    credits_held: int | None = None


@dataclass(frozen=True)
class Balance:
    """What a wallet may spend now (negative while it owes), the credits on hold, and what
    it owes (credits taken back that no lot could cover)."""

    credits: int
    held: int
    owed: int = 0


@dataclass(frozen=True)
class Granted:
    """Outcome of a grant: the lot it made (None for a debit) and the balance after it."""

    lot_id: int | None
    balance: int


class UnknownLot(LedgerError):
    """No lot has that id."""


Conn = sa.orm.Session | sa.Connection

ADD_TO_BALANCE = (
    sa.update(wallets)
    .where(wallets.c.id == sa.bindparam("wallet_id"))
    .values(balance=wallets.c.balance + sa.bindparam("amount"))
    .returning(wallets.c.balance)
)


def add_to_balance(session: Conn, wallet_id: int, amount: int) -> int:
    """Add a signed amount to a wallet's balance in one statement; returns the new balance."""
    new = session.execute(ADD_TO_BALANCE, {"wallet_id": wallet_id, "amount": amount}).scalar_one_or_none()
    if new is None:
        raise UnknownUser(f"no wallet with id {wallet_id}")
    return new


wallet_of = personal_wallet


def owner_of(wallet_id: int | sa.ColumnElement) -> sa.ColumnElement:
    """The user a wallet-level row (an expiry, a void) is recorded under, as SQL: whose
    personal wallet this is, or for an organization's wallet the person who created it."""
    organizations = Organization.__table__
    return sa.func.coalesce(
        sa.select(users.c.id).where(users.c.wallet_id == wallet_id).scalar_subquery(),
        sa.select(organizations.c.created_by).where(organizations.c.wallet_id == wallet_id).scalar_subquery(),
    )


LOCK_WALLET = (
    sa.select(wallets.c.id, wallets.c.balance, wallets.c.owed)
    .where(wallets.c.id == sa.bindparam("wallet_id"))
    .with_for_update(key_share=True)
)
LOCK_USER_WALLET = (
    sa.select(wallets.c.id, wallets.c.balance, wallets.c.owed)
    .where(wallets.c.id == wallet_of(sa.bindparam("user_id")))
    .with_for_update(key_share=True)
)


def lock_wallet(session: Conn, wallet_id: int) -> sa.Row:
    """Lock a wallet row (NO KEY, as a balance UPDATE takes): (id, balance, owed)."""
    row = session.execute(LOCK_WALLET, {"wallet_id": wallet_id}).one_or_none()
    if row is None:
        raise UnknownUser(f"no wallet with id {wallet_id}")
    return row


def lock_wallets(conn: Conn, wallet_ids: set[int]) -> None:
    """Lock many wallet rows in id order, so two batch writers (release-stale, the expiry
    sweep) running at once take them in the same order and never deadlock."""
    conn.execute(
        sa.select(wallets.c.id)
        .where(wallets.c.id.in_(sorted(wallet_ids)))
        .order_by(wallets.c.id)
        .with_for_update(key_share=True)
    ).all()


def lock_user_wallet(session: Conn, user_id: int) -> sa.Row:
    """Lock the user's personal wallet: (id, balance, owed), or UnknownUser."""
    row = session.execute(LOCK_USER_WALLET, {"user_id": user_id}).one_or_none()
    if row is None:
        raise UnknownUser(f"no user with id {user_id}")
    return row


def log_write(user_id: int, operation: str, amount: int, balance: int) -> None:
    """One log line per balance change: who, what, how much, and the balance after."""
    log.info(
        f"ledger {operation}",
        extra={"user_id": user_id, "operation": operation, "amount": amount, "balance": balance},
    )
