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
from typing import NoReturn

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.ledger import lots, triggers
from creditapp.ledger._core import (
    InsufficientCredits,
    InvalidAmount,
    SpendResult,
    UnknownUser,
    add_to_balance,
    log,
    spends,
    users,
    wallets,
)
from creditapp.models import personal_wallet, spendable, utcnow
from creditapp.platform import transactions
from creditapp.platform.sql import conflict_insert

# The hot path's statements are built once: building and cache-keying a fresh statement
# object on every call cost more Python time than the database round trip it sends.
# The debit: the spender's personal wallet, lowered when its balance covers the cost (this
# UPDATE is the wallet's row lock), returning what the top-up rules read.
DEBIT = (
    sa.update(wallets)
    .where(
        users.c.id == sa.bindparam("user_id"),
        wallets.c.id == users.c.wallet_id,
        wallets.c.balance >= sa.bindparam("cost"),
    )
    .values(balance=wallets.c.balance - sa.bindparam("cost"))
    .returning(wallets.c.balance, wallets.c.id.label("wallet_id"), *triggers.RULES)
)
# SQLite's RETURNING may not name the FROM table: the wallet by subquery, the rules read after.
DEBIT_SQLITE = (
    sa.update(wallets)
    .where(
        wallets.c.id == personal_wallet(sa.bindparam("user_id")),
        wallets.c.balance >= sa.bindparam("cost"),
    )
    .values(balance=wallets.c.balance - sa.bindparam("cost"))
    .returning(wallets.c.balance, wallets.c.id.label("wallet_id"))
)
INSERT_HELD = sa.insert(spends).returning(spends.c.id)
# A literal, not a bound parameter: a prepared statement's generic plan could not use
# the partial index on held spends for `status = $1`.
HELD = spends.c.status == sa.literal_column("'held'")
SETTLE = (
    sa.update(spends)
    .where(spends.c.id == sa.bindparam("spend_id"), spends.c.status == "held")
    .values(status=sa.bindparam("new_status"), settled_at=sa.bindparam("now"))
    .returning(spends.c.id, spends.c.user_id, spends.c.wallet_id, spends.c.credits_spent)
)
# The spend's wallet row, locked: `release` and a partial capture take it before the spend.
LOCK_SPEND_WALLET = (
    sa.select(wallets.c.id)
    .where(
        wallets.c.id
        == sa.select(spends.c.wallet_id).where(spends.c.id == sa.bindparam("spend_id")).scalar_subquery()
    )
    .with_for_update(key_share=True)
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
        balance = debited.balance
        now = utcnow()
        spend_id = insert_held(
            conn,
            user_id,
            debited.wallet_id,
            feature,
            cost,
            idempotency_key,
            fingerprint,
            now,
            idempotency_scope=idempotency_scope,
        )
        if spend_id is None:
            # The key was used before: undo this deduction and answer with the original.
            conn.rollback()
            return spend_by_key(conn, user_id, idempotency_key, idempotency_scope)
        draw_or_refuse(conn, user_id, debited.wallet_id, spend_id, cost, now)
        effects = triggers.after_decrease(
            conn, user_id, balance + cost, balance, f"spend-{spend_id}", rules_of(debited)
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

    The debited row carries the new balance (`balance`), the wallet and (PostgreSQL) what the
    top-up rules read: pass it on with `rules_of`. Raises InsufficientCredits or UnknownUser;
    nothing is deducted then.
    """
    statement = DEBIT if conn.dialect.name == "postgresql" else DEBIT_SQLITE
    debited = conn.execute(statement, {"user_id": user_id, "cost": cost}).one_or_none()
    if debited is not None:
        return debited, None
    existing = spend_by_key(conn, user_id, idempotency_key, idempotency_scope)
    if existing is not None:
        return None, existing
    refuse(conn, user_id, cost)


def rules_of(debited: sa.Row) -> sa.Row | None:
    """The top-up rules the debit returned, or None when they are still to be read (SQLite)."""
    return debited if "topup_threshold" in debited._fields else None


def draw_or_refuse(
    conn: sa.Connection, user_id: int, wallet_id: int, spend_id: int, cost: int, now: datetime
) -> None:
    """Draw the held cost from the wallet's lots; when its live lots hold less (credits of a
    lot whose expiry passed are still in the stored balance until the sweep), roll back and
    refuse."""
    if lots.draw(conn, wallet_id, spend_id, cost, now) < cost:
        conn.rollback()
        refuse(conn, user_id, cost)


def refuse(conn: sa.Connection, user_id: int, cost: int) -> NoReturn:
    """Raise InsufficientCredits with what the user may spend now (or UnknownUser)."""
    current = conn.execute(
        sa.select(spendable(users.c.wallet_id, utcnow())).where(users.c.id == user_id)
    ).scalar_one_or_none()
    if current is None:
        raise UnknownUser(f"no user with id {user_id}")
    log.info(
        "ledger hold refused",
        extra={"user_id": user_id, "operation": "refused", "amount": -cost, "balance": current},
    )
    raise InsufficientCredits(current, cost)


def insert_held(
    conn: sa.Connection,
    user_id: int,
    wallet_id: int,
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
        "wallet_id": wallet_id,
        "feature_used": feature,
        "credits_spent": cost,
        "credits_held": cost,
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
            spends.c.credits_held,
            spends.c.request_fingerprint,
            spendable(spends.c.wallet_id, utcnow()).label("balance"),
        ).where(
            spends.c.user_id == user_id,
            spends.c.idempotency_scope == scope,
            spends.c.idempotency_key == key,
        )
    ).one_or_none()
    if row is None:
        return None
    return SpendResult(
        row.id,
        row.status,
        row.credits_spent,
        row.balance,
        replayed=True,
        fingerprint=row.request_fingerprint,
        credits_held=row.credits_held,
    )


def capture(spend_id: int, charge: int | None = None) -> bool:
    """Mark a held spend captured; False when it was already settled (idempotent).

    With `charge` below what was held, only that is charged: the rest goes back to the lots
    it was drawn from, newest draw first (never more than was held is charged).
    """
    now = utcnow()
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        if charge is None:
            captured = conn.execute(
                SETTLE, {"spend_id": spend_id, "new_status": "captured", "now": now}
            ).one_or_none()
        else:
            captured = capture_part(conn, spend_id, charge, now)
        conn.commit()
    if captured is None:
        log.warning("capture found no held spend", extra={"spend_id": spend_id})
    else:
        log.info("ledger capture", extra={"spend_id": spend_id, "operation": "capture"})
    return captured is not None


def capture_part(conn: sa.Connection, spend_id: int, charge: int, now: datetime) -> sa.Row | None:
    """Inside the caller's transaction: capture a held spend charging `charge` at most, giving
    the rest back (lock order: the wallet, then the spend). None when it was not held."""
    if charge < 0:
        raise InvalidAmount("a capture cannot charge less than nothing")
    conn.execute(LOCK_SPEND_WALLET, {"spend_id": spend_id})
    held = conn.execute(
        sa.select(spends.c.credits_spent).where(spends.c.id == spend_id, HELD)
    ).scalar_one_or_none()
    if held is None:
        return None
    charged = min(charge, held)
    if charged == 0:
        # Nothing used: a captured spend charges at least one credit (the table's check), so
        # it is released instead, every draw given back.
        released = conn.execute(SETTLE, {"spend_id": spend_id, "new_status": "released", "now": now}).one()
        give_back_released(conn, [released], now)
        return released
    captured = conn.execute(
        sa.update(spends)
        .where(spends.c.id == spend_id, HELD)
        .values(status="captured", settled_at=now, credits_spent=charged)
        .returning(spends.c.user_id, spends.c.wallet_id, spends.c.credits_spent)
    ).one()
    if charged < held:
        lots.give_back_rest(conn, spend_id, held - charged, now)
        add_to_balance(conn, captured.wallet_id, held - charged)
    return captured


def release(spend_id: int) -> bool:
    """Give a held spend's credits back to its lots; False when it was already settled (idempotent)."""
    now = utcnow()
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        # Lock order (package docstring): the spend's wallet row before the spend row.
        conn.execute(LOCK_SPEND_WALLET, {"spend_id": spend_id})
        row = conn.execute(SETTLE, {"spend_id": spend_id, "new_status": "released", "now": now}).one_or_none()
        if row is not None:
            balance = give_back_released(conn, [row], now)[row.wallet_id]
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


def give_back_released(conn: sa.Connection, released: list[sa.Row], now: datetime) -> dict[int, int]:
    """After spends were settled `released` (rows with the spend's id, wallet_id,
    credits_spent), their wallets locked: their draws go back to their lots and their
    credits to the balances, wallets in id order. Returns each wallet's balance after."""
    per_wallet: dict[int, int] = {}
    for row in released:
        per_wallet[row.wallet_id] = per_wallet.get(row.wallet_id, 0) + row.credits_spent
    balances = {
        wallet_id: add_to_balance(conn, wallet_id, per_wallet[wallet_id]) for wallet_id in sorted(per_wallet)
    }
    lots.give_back(conn, [row.id for row in released], now)
    return balances
