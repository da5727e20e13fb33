"""Spending from an organization's wallet (teams, §19): the debit by wallet id, and the
member's monthly limit checked inside the hold's own transaction.

A personal spend debits the spender's personal wallet (`spending.DEBIT`, by user id); a
spend from an organization names the wallet instead (`DEBIT_WALLET`). Then, with that
wallet row locked by the debit, `refusal` locks the spender's membership row of the
organization owning the wallet (`FOR UPDATE`) and sums what they spent from it this
calendar month (UTC; held and captured spends count, released ones do not). Lock order:
wallet, then membership, then (`key_limits`) the API key: two holds of one member queue
on the wallet row and the second sees the first one's committed spend, so racing spends
never pass the limit. A member removed meanwhile has no row: the spend is refused.

What the spend then sets off (the organization's automatic top-up, low-balance e-mails to its
owners and admins) is `triggers.after_wallet_decrease`, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

import sqlalchemy as sa

from creditapp.ledger._core import InsufficientCredits, LedgerError, SpendResult, log, spends, wallets
from creditapp.ledger.spending import spend_by_key
from creditapp.models import Membership, Organization, spendable, utcnow
from creditapp.platform.clock import month_start

memberships = Membership.__table__
organizations = Organization.__table__

DEBIT_WALLET = (
    sa.update(wallets)
    .where(wallets.c.id == sa.bindparam("wallet_id"), wallets.c.balance >= sa.bindparam("cost"))
    .values(balance=wallets.c.balance - sa.bindparam("cost"))
    .returning(wallets.c.balance, wallets.c.id.label("wallet_id"))
)
LOCK_MEMBERSHIP = (
    sa.select(memberships.c.monthly_credit_limit)
    .join(organizations, organizations.c.id == memberships.c.org_id)
    .where(
        organizations.c.wallet_id == sa.bindparam("wallet_id"),
        memberships.c.user_id == sa.bindparam("user_id"),
    )
    .with_for_update(of=memberships)
)
MEMBER_SPENT_SINCE = sa.select(sa.func.coalesce(sa.func.sum(spends.c.credits_spent), 0)).where(
    spends.c.user_id == sa.bindparam("user_id"),
    spends.c.wallet_id == sa.bindparam("wallet_id"),
    spends.c.status.in_(("held", "captured")),
    spends.c.created_at >= sa.bindparam("since"),
)


class MemberLimitReached(LedgerError):
    """The spend would take the member past their monthly limit; nothing was written."""

    def __init__(self, limit: int, spent: int, required: int) -> None:
        super().__init__(f"member limit {limit}: spent {spent}, this needs {required}")
        self.limit, self.spent, self.required = limit, spent, required


class NotAMember(LedgerError):
    """The spender is not (or no longer) a member of the organization owning the wallet."""


def debit_wallet(
    conn: sa.Connection,
    user_id: int,
    wallet_id: int,
    cost: int,
    idempotency_key: str | None,
    idempotency_scope: str = "",
) -> tuple[sa.Row | None, SpendResult | None]:
    """Deduct `cost` from the wallet (this UPDATE is its row lock): (the debited row, None),
    or (None, the original spend) when the balance is short but the key was used before.

    The debited row carries `balance` and `wallet_id`. Raises InsufficientCredits; nothing
    is deducted then.
    """
    debited = conn.execute(DEBIT_WALLET, {"wallet_id": wallet_id, "cost": cost}).one_or_none()
    if debited is not None:
        return debited, None
    existing = spend_by_key(conn, user_id, idempotency_key, idempotency_scope)
    if existing is not None:
        return None, existing
    refuse_wallet(conn, wallet_id, cost)


def refuse_wallet(conn: sa.Connection, wallet_id: int, cost: int) -> NoReturn:
    """Raise InsufficientCredits with what may be spent from the wallet now."""
    current = conn.execute(sa.select(spendable(sa.literal(wallet_id), utcnow()))).scalar_one_or_none()
    log.info("ledger hold refused", extra={"operation": "refused", "amount": -cost, "balance": current})
    raise InsufficientCredits(current or 0, cost)


def refusal(
    conn: sa.Connection, user_id: int, wallet_id: int, cost: int, now: datetime
) -> LedgerError | None:
    """Why this member may not spend `cost` from the organization's wallet now, or None.

    Call it after the wallet row is locked (the debit), in the transaction that inserts the spend.
    """
    member = conn.execute(LOCK_MEMBERSHIP, {"wallet_id": wallet_id, "user_id": user_id}).first()
    if member is None:
        return NotAMember(f"user {user_id} may not spend from wallet {wallet_id}")
    if member.monthly_credit_limit is None:
        return None
    spent = int(
        conn.execute(
            MEMBER_SPENT_SINCE, {"user_id": user_id, "wallet_id": wallet_id, "since": month_start(now)}
        ).scalar_one()
    )
    if spent + cost > member.monthly_credit_limit:
        return MemberLimitReached(member.monthly_credit_limit, spent, cost)
    return None
