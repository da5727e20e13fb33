"""Spending: hold credits, then capture them or release them back.

These run on every feature use, so each takes a pooled connection of its own
(`db.engine.connect()`) instead of the ORM session: same statements, same single
transaction, a third less Python per operation. Each transaction ends on a visible
`conn.commit()`; leaving the block without it (an error, a refusal) rolls back. On SQLite
each first takes the database's write lock (`transactions.take_write_lock`; nothing on
PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.ledger import triggers
from creditapp.ledger._core import (
    InsufficientCredits,
    InvalidAmount,
    SpendResult,
    UnknownUser,
    add_to_balance,
    log,
    spends,
    users,
)
from creditapp.models import utcnow
from creditapp.platform import transactions
from creditapp.platform.sql import conflict_insert

# The hot path's statements are built once: building and cache-keying a fresh statement
# object on every call cost more Python time than the database round trip it sends.
DEBIT = (
    sa.update(users)
    .where(users.c.id == sa.bindparam("user_id"), users.c.credits >= sa.bindparam("cost"))
    .values(credits=users.c.credits - sa.bindparam("cost"))
    .returning(users.c.credits, *triggers.RULES)
)
INSERT_HELD = sa.insert(spends).returning(spends.c.id)
# A literal, not a bound parameter: a prepared statement's generic plan could not use
# the partial index on held spends for `status = $1`.
HELD = spends.c.status == sa.literal_column("'held'")
SETTLE = (
    sa.update(spends)
    .where(spends.c.id == sa.bindparam("spend_id"), spends.c.status == "held")
    .values(status=sa.bindparam("new_status"), settled_at=sa.bindparam("now"))
    .returning(spends.c.user_id, spends.c.credits_spent)
)
# The spender's user row, locked: `release` takes it before it touches the spend.
LOCK_SPENDER = (
    sa.select(users.c.id)
    .where(
        users.c.id
        == sa.select(spends.c.user_id).where(spends.c.id == sa.bindparam("spend_id")).scalar_subquery()
    )
    .with_for_update(key_share=True)
)
# Settle the held spend and give its credits back in one statement (PostgreSQL). The user
# row is already locked by LOCK_SPENDER, so the outer UPDATE never waits.
_released = (
    sa.update(spends)
    .where(spends.c.id == sa.bindparam("spend_id"), spends.c.status == "held")
    .values(status="released", settled_at=sa.bindparam("now"))
    .returning(spends.c.user_id, spends.c.credits_spent)
    .cte("released")
)
RELEASE_HELD = (
    sa.update(users)
    .where(users.c.id == _released.c.user_id)
    .values(credits=users.c.credits + _released.c.credits_spent)
    .returning(users.c.credits, _released.c.user_id, _released.c.credits_spent)
)


def hold(
    user_id: int,
    feature: str,
    cost: int,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    idempotency_scope: str = "",
) -> SpendResult:
    """Deduct `cost` and record a held spend, or raise InsufficientCredits.

    With an idempotency key already used by this user in this `idempotency_scope` (the API
    key or sign-in that sent it), return the original spend and charge nothing again (also
    when two requests with the same key race). The original spend carries the `fingerprint`
    it was made with, so callers can refuse a key reused for a different request.
    """
    if cost <= 0:
        raise InvalidAmount("a spend costs at least one credit")
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        debited, existing = debit(conn, user_id, cost, idempotency_key, idempotency_scope)
        if existing is not None:
            return existing
        balance = debited.credits
        spend_id = insert_held(
            conn,
            user_id,
            feature,
            cost,
            idempotency_key,
            fingerprint,
            utcnow(),
            idempotency_scope=idempotency_scope,
        )
        if spend_id is None:
            # The key was used before: undo this deduction and answer with the original.
            conn.rollback()
            return spend_by_key(conn, user_id, idempotency_key, idempotency_scope)
        effects = triggers.after_decrease(
            conn, user_id, balance + cost, balance, f"spend-{spend_id}", debited
        )
        conn.commit()
    transactions.hand_over(effects.handoffs())
    log.info(
        "ledger hold",
        extra={"user_id": user_id, "operation": "hold", "amount": -cost, "balance": balance},
    )
    return SpendResult(spend_id, "held", cost, balance, replayed=False, fingerprint=fingerprint)


def debit(
    conn: sa.Connection, user_id: int, cost: int, idempotency_key: str | None, idempotency_scope: str = ""
) -> tuple[sa.Row | None, SpendResult | None]:
    """Deduct `cost` with the user row locked: (the debited row, None), or (None, the
    original spend) when the balance is short but the key was used before.

    The debited row carries the new balance (`credits`) and what the top-up rules read.
    Raises InsufficientCredits or UnknownUser; nothing is deducted then.
    """
    debited = conn.execute(DEBIT, {"user_id": user_id, "cost": cost}).one_or_none()
    if debited is not None:
        return debited, None
    current = conn.execute(sa.select(users.c.credits).where(users.c.id == user_id)).scalar_one_or_none()
    if current is None:
        raise UnknownUser(f"no user with id {user_id}")
    existing = spend_by_key(conn, user_id, idempotency_key, idempotency_scope)
    if existing is not None:
        return None, existing
    log.info(
        "ledger hold refused",
        extra={"user_id": user_id, "operation": "refused", "amount": -cost, "balance": current},
    )
    raise InsufficientCredits(current, cost)


def insert_held(
    conn: sa.Connection,
    user_id: int,
    feature: str,
    cost: int,
    idempotency_key: str | None,
    fingerprint: str | None,
    now: datetime,
    **columns: object,
) -> int | None:
    """Insert the held spend; its id, or None when this user used the key before in its scope.

    `columns` may carry `idempotency_scope` (default "") and `api_key_id`.
    """
    row = {
        "user_id": user_id,
        "feature_used": feature,
        "credits_spent": cost,
        "status": "held",
        "idempotency_key": idempotency_key,
        "idempotency_scope": "",
        "request_fingerprint": fingerprint,
        "created_at": now,
        **columns,
    }
    if idempotency_key is None:
        # No key cannot conflict; a plain INSERT is also compiled once and cached,
        # which the dialect's ON CONFLICT insert never is.
        return conn.execute(INSERT_HELD, row).scalar_one()
    insert = (
        conflict_insert(spends)
        .values(row)
        .on_conflict_do_nothing(index_elements=["user_id", "idempotency_scope", "idempotency_key"])
        .returning(spends.c.id)
    )
    return conn.execute(insert).scalar_one_or_none()


def spend_by_key(conn: sa.Connection, user_id: int, key: str | None, scope: str = "") -> SpendResult | None:
    """The spend this user made with this idempotency key in this scope, if any."""
    if key is None:
        return None
    row = conn.execute(
        sa.select(
            spends.c.id,
            spends.c.status,
            spends.c.credits_spent,
            spends.c.request_fingerprint,
            users.c.credits,
        )
        .join(users, users.c.id == spends.c.user_id)
        .where(
            spends.c.user_id == user_id,
            spends.c.idempotency_scope == scope,
            spends.c.idempotency_key == key,
        )
    ).one_or_none()
    if row is None:
        return None
    return SpendResult(
        row.id, row.status, row.credits_spent, row.credits, replayed=True, fingerprint=row.request_fingerprint
    )


def capture(spend_id: int) -> bool:
    """Mark a held spend captured; False when it was already settled (idempotent)."""
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        captured = conn.execute(
            SETTLE, {"spend_id": spend_id, "new_status": "captured", "now": utcnow()}
        ).one_or_none()
        conn.commit()
    if captured is None:
        log.warning("capture found no held spend", extra={"spend_id": spend_id})
    else:
        log.info("ledger capture", extra={"spend_id": spend_id, "operation": "capture"})
    return captured is not None


def release(spend_id: int) -> bool:
    """Give a held spend's credits back; False when it was already settled (idempotent)."""
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        if conn.dialect.name == "postgresql":
            # Lock order (package docstring): the spender's user row before the spend row.
            conn.execute(LOCK_SPENDER, {"spend_id": spend_id})
            row = conn.execute(RELEASE_HELD, {"spend_id": spend_id, "now": utcnow()}).one_or_none()
            balance = row.credits if row is not None else None
        else:
            # SQLite has no row locks (one writer at a time): settle, then give back.
            row = conn.execute(
                SETTLE, {"spend_id": spend_id, "new_status": "released", "now": utcnow()}
            ).one_or_none()
            if row is not None:
                balance = add_to_balance(conn, row.user_id, row.credits_spent)
        conn.commit()
    if row is not None:
        log.info(
            "ledger release",
            extra={
                "user_id": row.user_id,
                "spend_id": spend_id,
                "operation": "release",
                "amount": row.credits_spent,
                "balance": balance,
            },
        )
    return row is not None
