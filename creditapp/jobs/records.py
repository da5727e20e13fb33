"""Reading and moving `feature_jobs` rows that do not touch a balance.

(Transitions that settle a hold live in `creditapp.ledger.job_holds`.) Each write is one
short transaction on a pooled connection, ending on a visible `conn.commit()`, and is
conditional on the state it expects, so two workers or a worker and the sweep never
both win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditSpend, FeatureJob, Membership, Organization, User, utcnow

jobs = FeatureJob.__table__
spends = CreditSpend.__table__

ENDED = ("succeeded", "failed", "canceled")


@dataclass(frozen=True)
class Job:
    """What a person may see of a job, with its cost from the hold."""

    id: uuid.UUID
    user_id: int
    feature: str
    params: dict[str, Any]
    status: str
    cost: int
    spend_id: int
    attempts: int
    error: str | None
    error_message: str | None
    result_key: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime
    result_type: str | None = None
    partial_text: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    stop_requested: bool = False
    # What the hold took, and the spend's state: `cost` is what it charges now.
    held: int | None = None
    spend_status: str = "held"
    # The wallet the hold was taken from: the person's own, or an organization's.
    wallet_id: int | None = None

    @property
    def ended(self) -> bool:
        """True once the job succeeded, failed or was canceled."""
        return self.status in ENDED

    @property
    def charged(self) -> int | None:
        """Credits this job was charged: None while held, 0 when given back."""
        if self.spend_status == "held":
            return None
        return self.cost if self.spend_status == "captured" else 0

    @property
    def has_result(self) -> bool:
        """A stored result: a success's, or what a stopped job had made."""
        return self.result_key is not None and self.status in ("succeeded", "canceled", "failed")

    def result_expired(self, ttl: timedelta, now: datetime | None = None) -> bool:
        """True for a success whose result is past its TTL (or already deleted)."""
        if self.status != "succeeded" and self.result_key is None:
            return False
        finished = _aware(self.finished_at)
        return self.result_key is None or finished is None or finished < (now or utcnow()) - ttl


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they are stored in UTC."""
    if value is not None and value.tzinfo is None:
        from datetime import UTC

        return value.replace(tzinfo=UTC)
    return value


SELECT_JOB = sa.select(
    *jobs.c,
    spends.c.credits_spent,
    spends.c.credits_held,
    spends.c.status.label("spend_status"),
    spends.c.wallet_id,
).join(spends, spends.c.id == jobs.c.spend_id)


def _job(row: sa.Row) -> Job:
    return Job(
        id=row.id,
        user_id=row.user_id,
        feature=row.feature,
        params=row.params,
        status=row.status,
        cost=row.credits_spent,
        spend_id=row.spend_id,
        attempts=row.attempts,
        error=row.error,
        error_message=row.error_message,
        result_key=row.result_key,
        created_at=_aware(row.created_at),
        started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at),
        deadline_at=_aware(row.deadline_at),
        # Results stored before their type was recorded were all PNG images.
        result_type=row.result_type or ("image/png" if row.result_key else None),
        partial_text=row.partial_text,
        progress=row.progress,
        progress_message=row.progress_message,
        stop_requested=row.stop_requested_at is not None,
        held=row.credits_held or row.credits_spent,
        spend_status=row.spend_status,
        wallet_id=row.wallet_id,
    )


def find(job_id: uuid.UUID, user_id: int | None = None) -> Job | None:
    """The job, if it exists (and belongs to `user_id` when given)."""
    query = SELECT_JOB.where(jobs.c.id == job_id)
    if user_id is not None:
        query = query.where(jobs.c.user_id == user_id)
    with db.engine.connect() as conn:
        row = conn.execute(query).one_or_none()
    return _job(row) if row is not None else None


def find_visible(job_id: uuid.UUID, user_id: int, wallet_id: int | None = None) -> Job | None:
    """The job if this person started it and may still see the wallet it spent from: their
    own, or an organization's they are still a member of (a removed member's jobs of it are
    gone for them, DESIGN §19). With `wallet_id`, only a job spent from that wallet."""
    own_wallet = sa.select(User.wallet_id).where(User.id == user_id).scalar_subquery()
    member_of_wallet = (
        sa.select(Membership.user_id)
        .join(Organization, Organization.id == Membership.org_id)
        .where(Organization.wallet_id == spends.c.wallet_id, Membership.user_id == user_id)
        .exists()
    )
    query = SELECT_JOB.where(
        jobs.c.id == job_id,
        jobs.c.user_id == user_id,
        sa.or_(spends.c.wallet_id == own_wallet, member_of_wallet),
    )
    if wallet_id is not None:
        query = query.where(spends.c.wallet_id == wallet_id)
    with db.engine.connect() as conn:
        row = conn.execute(query).one_or_none()
    return _job(row) if row is not None else None


@dataclass(frozen=True)
class Claim:
    """A job a worker now holds the lease of."""

    job: Job
    attempt: int


def claim(job_id: uuid.UUID, lease: timedelta, max_attempts: int) -> Claim | None:
    """Mark a queued job (or a running one whose worker's lease ran out) running for this worker.

    None when the job is not there to run: finished, canceled, running elsewhere, waiting
    for its retry, past its deadline, or out of attempts.
    """
    now = utcnow()
    with db.engine.connect() as conn:
        claimed = conn.execute(
            sa.update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.deadline_at > now,
                jobs.c.attempts < max_attempts,
                # A second early before its retry time is fine (clocks differ between machines).
                jobs.c.available_at <= now + timedelta(seconds=1),
                sa.or_(
                    jobs.c.status == "queued",
                    sa.and_(jobs.c.status == "running", jobs.c.lease_until < now),
                ),
            )
            .values(
                status="running",
                attempts=jobs.c.attempts + 1,
                started_at=sa.func.coalesce(jobs.c.started_at, now),
                lease_until=now + lease,
            )
            .returning(jobs.c.attempts)
        ).scalar_one_or_none()
        conn.commit()
        if claimed is None:
            return None
        row = conn.execute(SELECT_JOB.where(jobs.c.id == job_id)).one()
    return Claim(_job(row), claimed)


def retry_later(job_id: uuid.UUID, attempt: int, at: datetime) -> bool:
    """Put a running job back in the queue for another attempt at `at`; False if it moved on."""
    with db.engine.connect() as conn:
        moved = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "running", jobs.c.attempts == attempt)
            .values(status="queued", lease_until=None, available_at=at)
        ).rowcount
        conn.commit()
    return bool(moved)


def requeue_abandoned(now: datetime | None = None) -> list[uuid.UUID]:
    """Running jobs whose worker's lease ran out (the worker died) go back to queued."""
    now = now or utcnow()
    with db.engine.connect() as conn:
        ids = conn.execute(
            sa.update(jobs)
            .where(
                jobs.c.status == "running",
                jobs.c.lease_until < now,
                jobs.c.deadline_at > now,
            )
            .values(status="queued", lease_until=None, available_at=now)
            .returning(jobs.c.id)
        ).scalars()
        found = list(ids)
        conn.commit()
    return found


def waiting_longer_than(age: timedelta, now: datetime | None = None) -> list[uuid.UUID]:
    """Queued jobs due for longer than `age`: their message may have been lost."""
    now = now or utcnow()
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(jobs.c.id).where(
                    jobs.c.status == "queued", jobs.c.available_at < now - age, jobs.c.deadline_at > now
                )
            ).scalars()
        )


def forget_results_before(cutoff: datetime) -> list[str]:
    """Clear result_key of successes finished before `cutoff`; returns the keys to delete."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.result_key).where(
                jobs.c.result_key.is_not(None), jobs.c.finished_at < cutoff
            )
        ).all()
        if rows:
            conn.execute(
                sa.update(jobs).where(jobs.c.id.in_([row.id for row in rows])).values(result_key=None)
            )
        conn.commit()
    return [row.result_key for row in rows]


def request_stop(job_id: uuid.UUID, user_id: int) -> bool:
    """Raise a running job's stop flag (the person pressed Stop); False when it is not running."""
    with db.engine.connect() as conn:
        stopped = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.user_id == user_id, jobs.c.status == "running")
            .values(stop_requested_at=sa.func.coalesce(jobs.c.stop_requested_at, utcnow()))
            .returning(jobs.c.id)
        ).scalar_one_or_none()
        conn.commit()
    return stopped is not None


def save_live(
    job_id: uuid.UUID, partial_text: str | None, progress: float | None, progress_message: str | None
) -> bool:
    """Store what a running job showed so far (its text, its progress); True once it was stopped."""
    with db.engine.connect() as conn:
        stop = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "running")
            .values(partial_text=partial_text, progress=progress, progress_message=progress_message)
            .returning(jobs.c.stop_requested_at)
        ).one_or_none()
        conn.commit()
    return stop is not None and stop.stop_requested_at is not None


def stop_requested(job_id: uuid.UUID) -> bool:
    """Whether the person pressed Stop on this job."""
    with db.engine.connect() as conn:
        return (
            conn.execute(sa.select(jobs.c.stop_requested_at).where(jobs.c.id == job_id)).scalar_one_or_none()
            is not None
        )
