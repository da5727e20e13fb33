"""A key's monthly credit limit, checked inside the hold's own transaction.

The hold has already locked the user row (its debit); this then locks the key's row
`FOR UPDATE` and sums what the key spent this calendar month (UTC; held and captured
spends count, released ones do not). Lock order: user row, then the api key row, then
spend rows, so two holds of one key queue on the user row and the second one sees the
first one's committed spend: racing requests never pass the limit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from creditapp.ledger._core import LedgerError, spends
from creditapp.models import ApiKey
from creditapp.platform.clock import month_start

api_keys = ApiKey.__table__

LOCK_KEY = (
    sa.select(api_keys.c.monthly_credit_limit, api_keys.c.revoked_at)
    .where(api_keys.c.id == sa.bindparam("key_id"), api_keys.c.user_id == sa.bindparam("user_id"))
    .with_for_update()
)
SPENT_SINCE = sa.select(sa.func.coalesce(sa.func.sum(spends.c.credits_spent), 0)).where(
    spends.c.api_key_id == sa.bindparam("key_id"),
    spends.c.status.in_(("held", "captured")),
    spends.c.created_at >= sa.bindparam("since"),
)


class KeyLimitReached(LedgerError):
    """The spend would take the key past its monthly limit; nothing was written."""

    def __init__(self, limit: int, spent: int, required: int) -> None:
        super().__init__(f"key limit {limit}: spent {spent}, this needs {required}")
        self.limit, self.spent, self.required = limit, spent, required


class KeyRevoked(LedgerError):
    """The key was revoked (or is not this user's) while the request was on its way."""


def refusal(conn: sa.Connection, user_id: int, key_id: int, cost: int, now: datetime) -> LedgerError | None:
    """Why the key may not spend `cost` now (to raise after rolling back), or None.

    Call it after the user row is locked, in the transaction that inserts the spend.
    """
    key = conn.execute(LOCK_KEY, {"key_id": key_id, "user_id": user_id}).first()
    if key is None or key.revoked_at is not None:
        return KeyRevoked(f"api key {key_id} cannot spend")
    if key.monthly_credit_limit is None:
        return None
    spent = int(conn.execute(SPENT_SINCE, {"key_id": key_id, "since": month_start(now)}).scalar_one())
    if spent + cost > key.monthly_credit_limit:
        return KeyLimitReached(key.monthly_credit_limit, spent, cost)
    return None
