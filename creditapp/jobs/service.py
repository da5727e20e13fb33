"""Starting and cancelling jobs: what the views (and API clients) call.

`submit` validates, then writes the hold and the job row in one transaction
(`ledger.job_holds.hold_for_job`) and enqueues the job only after that commit (an instant
feature's job runs at once, inside the request). The same Idempotency-Key answers with the
same job; reused for another request it is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app

from creditapp.jobs import records, runnable, runner
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
    wallet_id: int | None = None,
) -> Submission:
    """Hold the credits and queue a job for one use of a feature (an instant one runs now).

    `raw` is the request's input: the feature validates it against its schema (and its own
    `check`). Raises InvalidInput or ledger.InsufficientCredits (nothing written), or
    IdempotencyConflict (the key belongs to another request, or to a spend with no job).
    With `api_key_id` (the API key making the request) also KeyLimitReached or KeyRevoked.
    With `wallet_id` (an organization's wallet) the credits come from it, under the member's
    monthly limit: also MemberLimitReached or NotAMember.
    The key replays only within `idempotency_scope` (the API key or sign-in that sent it),
    so one credential never gets another's job back by sending its key.

    An instant feature's job is written already claimed and run inside this call: the
    Submission comes back with the job ended (succeeded, or failed and released).
    """
    config = config if config is not None else current_app.config
    feature = runnable.get(feature_name)
    params = feature.validate(raw, config)
    key = check_idempotency_key(idempotency_key)
    cost = int(feature.estimate(params, config))
    fingerprint = request_fingerprint(feature.name, params) if key else None
    now = utcnow()
    deadline = now + timedelta(seconds=int(config["JOB_DEADLINE_SECONDS"]))
    instant = feature.mode == "instant"
    held = job_holds.hold_for_job(
        user_id,
        feature.name,
        cost,
        params,
        deadline,
        key,
        fingerprint,
        api_key_id=api_key_id,
        idempotency_scope=idempotency_scope,
        lease_until=now + timedelta(seconds=runner.lease_seconds(config)) if instant else None,
        wallet_id=wallet_id,
    )
    spend = held.spend
    if spend.replayed:
        if (spend.credits_held or spend.credits_spent) != cost or spend.fingerprint != fingerprint:
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
    job = records.Job(
        id=held.job_id,
        user_id=user_id,
        feature=feature.name,
        params=params,
        status="running" if instant else "queued",
        cost=cost,
        spend_id=spend.spend_id,
        attempts=1 if instant else 0,
        error=None,
        error_message=None,
        result_key=None,
        created_at=held.created_at,
        started_at=held.created_at if instant else None,
        finished_at=None,
        deadline_at=deadline,
        held=cost,
    )
    if instant:
        runner.run_claimed(job, 1, config, retry=False)
        return Submission(records.find(job.id), spend.balance, replayed=False)
    # After the commit: a worker must find the row. A lost message is re-sent by the sweep.
    current_queue().enqueue(held.job_id)
    return Submission(job, spend.balance, replayed=False)


def stop(user_id: int, job_id: uuid.UUID) -> records.Job | None:
    """Cancel a queued job (its credits back), or ask a running one that can stop to stop.

    A running job whose feature can stop early (`stoppable`) gets its stop flag: the worker
    ends it `canceled`, charged what it reported used so far. None for no such job of this
    user; JobNotCancelable for a job that has ended, or runs and cannot stop.
    """
    job = records.find(job_id, user_id)
    if job is None:
        return None
    if job.status == "queued":
        try:
            return cancel(user_id, job_id)
        except JobNotCancelable as exc:
            job = exc.job  # a worker claimed it meanwhile
    if job.status == "running" and _stoppable(job) and records.request_stop(job_id, user_id):
        return records.find(job_id, user_id)
    raise JobNotCancelable(records.find(job_id, user_id) or job)


def _stoppable(job: records.Job) -> bool:
    try:
        return bool(runnable.get(job.feature).stoppable)
    except KeyError:
        return False  # a feature no longer installed


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
