"""Starting and cancelling jobs: what the views (and API clients) call.

`submit` validates, then writes the hold and the job row in one transaction
(`ledger.job_holds.hold_for_job`) and enqueues the job only after that commit. The same
Idempotency-Key answers with the same job; reused for another request it is refused.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app

from creditapp.jobs import records, runnable
from creditapp.jobs.idempotency import IdempotencyConflict, check_idempotency_key, request_fingerprint
from creditapp.jobs.queue import current_queue
from creditapp.ledger import job_holds
from creditapp.models import utcnow


class JobNotCancelable(Exception):
    """The job is running or has ended; it is left as it is."""

    def __init__(self, job: records.Job) -> None:
        super().__init__(f"job {job.id} is {job.status}")
        self.job = job


@dataclass(frozen=True)
class Submission:
    """The job a request started, or found again by its Idempotency-Key (`replayed`)."""

    job: records.Job
    balance: int
    replayed: bool


def submit(
    user_id: int,
    feature_name: str,
    raw: Mapping[str, Any],
    idempotency_key: str | None = None,
    config: Mapping[str, Any] | None = None,
    api_key_id: int | None = None,
    idempotency_scope: str = "",
) -> Submission:
    """Hold the credits and queue a job for one use of a feature.

    Raises InvalidInput or ledger.InsufficientCredits (nothing written), or
    IdempotencyConflict (the key belongs to another request, or to a spend with no job).
    With `api_key_id` (the API key making the request) also KeyLimitReached or KeyRevoked.
    The key replays only within `idempotency_scope` (the API key or sign-in that sent it),
    so one credential never gets another's job back by sending its key.
    """
    config = config if config is not None else current_app.config
    feature = runnable.get(feature_name)
    params = feature.parse(raw, config)
    key = check_idempotency_key(idempotency_key)
    cost = feature.cost(params, config)
    fingerprint = request_fingerprint(feature.name, params) if key else None
    stored = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)
    deadline = utcnow() + timedelta(seconds=int(config["JOB_DEADLINE_SECONDS"]))
    held = job_holds.hold_for_job(
        user_id,
        feature.name,
        cost,
        stored,
        deadline,
        key,
        fingerprint,
        api_key_id=api_key_id,
        idempotency_scope=idempotency_scope,
    )
    spend = held.spend
    if spend.replayed:
        if spend.credits_spent != cost or spend.fingerprint != fingerprint:
            raise IdempotencyConflict(
                "This Idempotency-Key was already used for a different request.",
                spend.spend_id,
                "idempotency_key_reused",
            )
        if held.job_id is None:
            raise IdempotencyConflict(
                "This request already ran and was settled before results were stored; "
                "it cannot be sent again.",
                spend.spend_id,
                "result_not_stored",
            )
        return Submission(records.find(held.job_id), spend.balance, replayed=True)
    # After the commit: a worker must find the row. A lost message is re-sent by the sweep.
    current_queue().enqueue(held.job_id)
    job = records.Job(
        id=held.job_id,
        user_id=user_id,
        feature=feature.name,
        params=stored,
        status="queued",
        cost=cost,
        spend_id=spend.spend_id,
        attempts=0,
        error=None,
        error_message=None,
        result_key=None,
        created_at=held.created_at,
        started_at=None,
        finished_at=None,
        deadline_at=deadline,
    )
    return Submission(job, spend.balance, replayed=False)


def cancel(user_id: int, job_id: uuid.UUID) -> records.Job | None:
    """Cancel a queued job and give its credits back; None for no such job of this user.

    Raises JobNotCancelable for a job already running or ended.
    """
    canceled = job_holds.end_job_and_release(
        job_id,
        "canceled",
        "canceled",
        "You canceled this before it started. You were not charged.",
        from_statuses=("queued",),
        user_id=user_id,
    )
    job = records.find(job_id, user_id)
    if job is not None and not canceled:
        raise JobNotCancelable(job)
    return job
