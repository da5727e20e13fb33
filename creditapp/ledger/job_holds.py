"""Holds that belong to a queued job: written, captured and released together with the job row.

A job and its hold never disagree: the hold and the `feature_jobs` row are inserted in one
transaction, and every change of a job that settles its hold (succeeded → captured; failed,
canceled, overdue → released) is one transaction too. Each function takes its own pooled
connection like `spending` does (the write lock first on SQLite) and ends on a visible
`conn.commit()`.

Lock order, as everywhere in the ledger (package docstring): the wallet row first, then the
job row, then its spend. A settlement that gives credits back locks the job's wallet before
it touches the job, exactly as `release` does, so a retried keyed hold (wallet row, then the
spend's key) and a release never wait for each other. Capturing the whole hold touches no
wallet row; a metered capture (less than was held, `ctx.used`) gives the rest back, so it
locks the wallet first like a release.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.ledger import lots, triggers
from creditapp.ledger._core import (
    InvalidAmount,
    SpendResult,
    log,
    log_write,
    spends,
    wallets,
)
from creditapp.ledger.key_limits import refusal as key_refusal
from creditapp.ledger.member_limits import debit_wallet, refuse_wallet
from creditapp.ledger.member_limits import refusal as member_refusal
from creditapp.ledger.spending import (
    SETTLE,
    capture_part,
    debit,
    draw_or_refuse,
    give_back_released,
    insert_held,
    rules_of,
    spend_by_key,
)
from creditapp.models import OPEN_JOB_STATUSES, FeatureJob, utcnow
from creditapp.platform import transactions

jobs = FeatureJob.__table__

INSERT_JOB = sa.insert(jobs)
# The job's wallet row, locked before the job and its spend (NO KEY, as a balance UPDATE).
LOCK_JOB_WALLET = (
    sa.select(wallets.c.id)
    .where(
        wallets.c.id
        == sa.select(spends.c.wallet_id)
        .join(jobs, jobs.c.spend_id == spends.c.id)
        .where(jobs.c.id == sa.bindparam("job_id"))
        .scalar_subquery()
    )
    .with_for_update(key_share=True)
)


@dataclass(frozen=True)
class JobHold:
    """A hold and the job it pays for; `spend.replayed` means both existed already."""

    spend: SpendResult
    job_id: uuid.UUID | None
    created_at: datetime | None = None


def hold_for_job(
    user_id: int,
    feature: str,
    cost: int,
    params: dict[str, Any],
    deadline_at: datetime,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    api_key_id: int | None = None,
    idempotency_scope: str = "",
    lease_until: datetime | None = None,
    wallet_id: int | None = None,
) -> JobHold:
    """Deduct `cost`, record a held spend and its queued job in one transaction.

    With `lease_until` the job is written already claimed (running, first attempt, leased
    until then): an instant feature, which the request itself runs at once.

    Raises InsufficientCredits (nothing written). A key this user already used in this
    `idempotency_scope` (the API key or sign-in that sent it) returns the original spend
    and its job (None for a spend made before jobs existed). With `api_key_id`, the spend
    is that API key's: KeyLimitReached or KeyRevoked (nothing written) when the key may
    not spend it, checked under the user row's lock.

    With `wallet_id` (an organization's wallet, teams) the spend comes from that wallet,
    not the personal one: MemberLimitReached or NotAMember (nothing written) when this
    member may not spend it, checked under the wallet row's lock, before the key's
    (lock order: wallet, membership, key). Its outbox rows are the organization's: its
    top-up, and low-balance e-mails to its owners and admins (`triggers.after_wallet_decrease`).
    """
    if cost <= 0:
        raise InvalidAmount("a spend costs at least one credit")
    now = utcnow()
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        if wallet_id is None:
            debited, existing = debit(conn, user_id, cost, idempotency_key, idempotency_scope)
        else:
            debited, existing = debit_wallet(
                conn, user_id, wallet_id, cost, idempotency_key, idempotency_scope
            )
        if existing is not None:
            return JobHold(existing, _job_for_spend(conn, existing.spend_id))
        balance = debited.balance
        refused = member_refusal(conn, user_id, wallet_id, cost, now) if wallet_id is not None else None
        if refused is None and api_key_id is not None:
            refused = key_refusal(conn, user_id, api_key_id, cost, now)
        if refused is not None:
            conn.rollback()
            existing = spend_by_key(conn, user_id, idempotency_key, idempotency_scope)
            if existing is not None:
                return JobHold(existing, _job_for_spend(conn, existing.spend_id))
            raise refused
        spend_id = insert_held(
            conn,
            user_id,
            debited.wallet_id,
            feature,
            cost,
            idempotency_key,
            fingerprint,
            now,
            api_key_id=api_key_id,
            idempotency_scope=idempotency_scope,
        )
        if spend_id is None:
            # The key was used before (perhaps a moment ago by a racing request, whose
            # commit we waited for): undo this deduction and answer with the original.
            conn.rollback()
            existing = spend_by_key(conn, user_id, idempotency_key, idempotency_scope)
            return JobHold(existing, _job_for_spend(conn, existing.spend_id))
        if wallet_id is None:
            draw_or_refuse(conn, user_id, debited.wallet_id, spend_id, cost, now)
        elif lots.draw(conn, wallet_id, spend_id, cost, now) < cost:
            conn.rollback()
            refuse_wallet(conn, wallet_id, cost)
        job_id = uuid.uuid4()
        conn.execute(
            INSERT_JOB,
            {
                "id": job_id,
                "user_id": user_id,
                "feature": feature,
                "params": params,
                "spend_id": spend_id,
                "status": "queued" if lease_until is None else "running",
                "attempts": 0 if lease_until is None else 1,
                "created_at": now,
                "available_at": now,
                "started_at": None if lease_until is None else now,
                "lease_until": lease_until,
                "deadline_at": deadline_at,
            },
        )
        if wallet_id is None:
            effects = triggers.after_decrease(
                conn, user_id, balance + cost, balance, f"spend-{spend_id}", rules_of(debited)
            )
        else:
            # The organization's top-up and low-balance e-mails (to its owners and admins).
            effects = triggers.after_wallet_decrease(
                conn, wallet_id, balance + cost, balance, f"spend-{spend_id}"
            )
        conn.commit()
    transactions.hand_over(effects.handoffs())
    log_write(user_id, "hold", -cost, balance)
    spend = SpendResult(spend_id, "held", cost, balance, replayed=False, fingerprint=fingerprint)
    return JobHold(spend, job_id, now)


def _job_for_spend(conn: sa.Connection, spend_id: int) -> uuid.UUID | None:
    return conn.execute(sa.select(jobs.c.id).where(jobs.c.spend_id == spend_id)).scalar_one_or_none()


def succeed_job(
    job_id: uuid.UUID, result_key: str, result_type: str = "image/png", charge: int | None = None
) -> str:
    """Capture a running job's hold and mark it succeeded with its stored result.

    `charge`: what the work used (metered, `ctx.used`), when less than was held: only that
    is charged and the rest goes back to the lots it came from (0 releases it all); None
    charges the whole hold. Returns "succeeded"; "not_running" when another delivery
    already finished it (nothing changed); "hold_released" when the hold was given back
    meanwhile (`release-stale`): the job is then failed, and the caller deletes the result
    nobody paid for.
    """
    now = utcnow()
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        if charge is not None:
            # Credits go back to lots: the wallet row first, as every give-back takes it.
            conn.execute(LOCK_JOB_WALLET, {"job_id": job_id})
        spend_id = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "running")
            .values(
                status="succeeded",
                result_key=result_key,
                result_type=result_type,
                finished_at=now,
                lease_until=None,
            )
            .returning(jobs.c.spend_id)
        ).scalar_one_or_none()
        if spend_id is None:
            conn.rollback()
            return "not_running"
        if charge is None:
            captured = conn.execute(
                SETTLE, {"spend_id": spend_id, "new_status": "captured", "now": now}
            ).first()
        else:
            captured = capture_part(conn, spend_id, charge, now)
        if captured is None:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    status="failed",
                    result_key=None,
                    result_type=None,
                    error="hold_released",
                    error_message="This took too long and was cancelled. You were not charged.",
                )
            )
            conn.commit()
            log.warning("job finished after its hold was released", extra={"spend_id": spend_id})
            return "hold_released"
        conn.commit()
    log.info("ledger capture", extra={"spend_id": spend_id, "operation": "capture"})
    return "succeeded"


def end_job_and_release(
    job_id: uuid.UUID,
    status: str,
    code: str | None,
    message: str | None,
    from_statuses: tuple[str, ...] = OPEN_JOB_STATUSES,
    user_id: int | None = None,
) -> bool:
    """Move a job in `from_statuses` to `status` (failed or canceled) and give its hold back.

    False when the job was not in one of those states (already ended, or running when
    only a queued job may be canceled); nothing changes then.
    """
    return end_job(job_id, status, code, message, from_statuses, user_id) is not None


@dataclass(frozen=True)
class Ended:
    """A job ended without success: what its spend was charged (0: released)."""

    charged: int


def end_job(
    job_id: uuid.UUID,
    status: str,
    code: str | None,
    message: str | None,
    from_statuses: tuple[str, ...] = OPEN_JOB_STATUSES,
    user_id: int | None = None,
    charge: int = 0,
    result_key: str | None = None,
    result_type: str | None = None,
) -> Ended | None:
    """Move a job in `from_statuses` to `status` (failed or canceled) and settle its hold:
    released, or, with `charge` > 0 (what a stopped or failed metered job used), captured for
    that much at most, the rest given back. A result it left (`result_key`) stays with it.

    None when the job was not in one of those states; nothing changes then.
    """
    condition = sa.and_(jobs.c.id == job_id, jobs.c.status.in_(from_statuses))
    if user_id is not None:
        condition = sa.and_(condition, jobs.c.user_id == user_id)
    now = utcnow()
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        conn.execute(LOCK_JOB_WALLET, {"job_id": job_id})
        spend_id = conn.execute(
            sa.update(jobs)
            .where(condition)
            .values(
                status=status,
                error=code,
                error_message=message,
                finished_at=now,
                lease_until=None,
                result_key=result_key,
                result_type=result_type,
            )
            .returning(jobs.c.spend_id)
        ).scalar_one_or_none()
        if spend_id is None:
            conn.rollback()
            return None
        if charge > 0:
            # charge > 0 and a hold of at least 1: this captures (None only when not held).
            captured = capture_part(conn, spend_id, charge, now)
            charged = captured.credits_spent if captured is not None else 0
            conn.commit()
            log.info("ledger capture", extra={"spend_id": spend_id, "operation": "capture"})
            return Ended(charged)
        released = conn.execute(SETTLE, {"spend_id": spend_id, "new_status": "released", "now": now}).first()
        balance = give_back_released(conn, [released], now)[released.wallet_id] if released else None
        conn.commit()
    if released is not None:
        log_write(released.user_id, "release", released.credits_spent, balance)
    return Ended(0)


def fail_overdue_jobs(now: datetime | None = None) -> list[tuple[uuid.UUID, int, int]]:
    """Fail every unfinished job past its deadline and release its hold, in one transaction.

    Returns (job_id, user_id, credits given back) for each.
    """
    now = now or utcnow()
    overdue = sa.and_(jobs.c.status.in_(OPEN_JOB_STATUSES), jobs.c.deadline_at < now)
    with db.engine.connect() as conn:
        transactions.take_write_lock(conn)
        # Lock order: the wallets first (in id order, as release-stale does), then only their jobs.
        wallet_ids = list(
            conn.execute(
                sa.select(wallets.c.id)
                .where(
                    wallets.c.id.in_(
                        sa.select(spends.c.wallet_id)
                        .join(jobs, jobs.c.spend_id == spends.c.id)
                        .where(overdue)
                    )
                )
                .order_by(wallets.c.id)
                .with_for_update(key_share=True)
            ).scalars()
        )
        if not wallet_ids:
            conn.rollback()
            return []
        failed = conn.execute(
            sa.update(jobs)
            .where(
                overdue,
                jobs.c.spend_id.in_(sa.select(spends.c.id).where(spends.c.wallet_id.in_(wallet_ids))),
            )
            .values(
                status="failed",
                error="deadline_exceeded",
                error_message="This was not ready in time. You were not charged.",
                finished_at=now,
                lease_until=None,
            )
            .returning(jobs.c.id, jobs.c.spend_id)
        ).all()
        if not failed:
            conn.rollback()
            return []
        by_spend = {row.spend_id: row.id for row in failed}
        released = conn.execute(
            sa.update(spends)
            .where(spends.c.id.in_(sorted(by_spend)), spends.c.status == "held")
            .values(status="released", settled_at=now)
            .returning(spends.c.id, spends.c.user_id, spends.c.wallet_id, spends.c.credits_spent)
        ).all()
        give_back_released(conn, released, now)
        conn.commit()
    return [(by_spend[row.id], row.user_id, row.credits_spent) for row in released]
