"""What a worker does with one job id: claim → run with a deadline → store → capture.

Every step is safe to repeat, because the queue delivers at least once: the claim is a
conditional update (a second delivery finds the job running or ended and does nothing),
each attempt stores its result under its own name, and capture happens only if the job
is still running and its hold still held. A failure releases the hold; a result that
cannot be stored releases it too, so nobody pays for a result they cannot fetch.

Capture is metered: the hold is the feature's estimate, and the capture charges what the
run reported with `ctx.used` (never more than the hold; without a report, the estimate),
giving the rest back to the lots it came from. A job the person stopped while it ran ends
`canceled`, charged what it reported used so far (nothing reported: nothing charged); a
job that fails for good is charged what it reported used before failing (usually nothing).

An instant feature runs the same steps inside the request (`run_claimed`), on a job row
written already claimed, so its result is stored and replayed like any job's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import current_app

from creditapp.jobs import records, results, runnable
from creditapp.jobs.context import Context
from creditapp.jobs.queue import current_queue
from creditapp.ledger import job_holds
from creditapp.models import utcnow
from creditapp.platform.input_checks import InvalidInput

log = logging.getLogger("creditapp.jobs")

# Time a worker may need beyond the provider call (storing, capturing) before its lease ends.
LEASE_GRACE_SECONDS = 5.0
MESSAGES = {
    "internal_error": "The feature failed unexpectedly. You were not charged.",
    "result_not_stored": "The result could not be saved. You were not charged.",
    "invalid_input": "This request can no longer be run. You were not charged.",
    "no_result": "The feature gave no result. You were not charged.",
    "too_many_attempts": "This could not be done after several tries. You were not charged.",
    "deadline_exceeded": "This was not ready in time. You were not charged.",
}


def run(job_id: uuid.UUID, config: Mapping[str, Any] | None = None) -> str:
    """Run one delivery of a job; returns what happened (for logs and tests)."""
    config = config if config is not None else current_app.config
    max_attempts = int(config["JOB_MAX_ATTEMPTS"])
    claim = records.claim(job_id, timedelta(seconds=lease_seconds(config)), max_attempts)
    if claim is None:
        return _not_claimed(job_id, max_attempts)
    return run_claimed(claim.job, claim.attempt, config)


def lease_seconds(config: Mapping[str, Any]) -> float:
    """How long one attempt may hold a job: the slowest registered feature's timeout, and a grace.

    The lease is taken before the job (and so its feature) is read.
    """
    slowest = max((feature.timeout(config) for feature in runnable.every()), default=60.0)
    return slowest + LEASE_GRACE_SECONDS


def run_claimed(job: records.Job, attempt: int, config: Mapping[str, Any], retry: bool = True) -> str:
    """Run a job this process holds the claim of, then store, capture or release.

    `retry`: a transient failure is tried again later on the queue (a worker); an instant
    feature, run inside the request, fails at once instead.
    """
    job_id = job.id
    feature = runnable.get(job.feature)
    remaining = (job.deadline_at - utcnow()).total_seconds()
    try:
        params = feature.validate(job.params, config)
    except InvalidInput:
        return _fail(job_id, "invalid_input")
    ctx = Context(
        params,
        config,
        job_id if feature.mode == "job" else None,
        timeout=min(feature.timeout(config), max(1.0, remaining)),
    )
    if job.stop_requested:
        # Stopped while its worker died (or between attempts): what that worker's attempt
        # used died with it, so nothing is charged.
        return _stopped(job_id, ctx, config, attempt)
    try:
        feature.run(params, ctx)
    except Exception as exc:
        ctx.flush()
        if ctx.stop_seen or records.stop_requested(job_id):
            return _stopped(job_id, ctx, config, attempt)
        failure = runnable.Failure("invalid_input", str(exc)) if isinstance(exc, InvalidInput) else None
        failure = feature.failure(exc) or failure
        if failure is not None:
            return _feature_failed(job_id, attempt, failure, config, ctx, retry)
        log.exception("job %s failed", job_id)
        return _fail(job_id, "internal_error")
    ctx.flush()
    if ctx.stop_seen or (feature.stoppable and records.stop_requested(job_id)):
        return _stopped(job_id, ctx, config, attempt)
    if ctx.reported_result is None:
        log.error("job %s: feature %s gave no result", job_id, feature.name)
        return _fail(job_id, "no_result")
    stored = _store(job_id, attempt, ctx, config)
    if stored is None:
        return _fail(job_id, "result_not_stored")
    outcome = job_holds.succeed_job(job_id, stored, ctx.reported_result.content_type, _charge(ctx, job))
    if outcome != "succeeded":
        results.delete(config, stored)  # another delivery won, or the hold was given back: not paid for
    log.info("job %s attempt %s: %s", job_id, attempt, outcome)
    return outcome


def _charge(ctx: Context, job: records.Job) -> int | None:
    """What to capture: None (the whole hold) unless the run reported using less."""
    used = ctx.reported_used
    if used is None or used >= job.cost:
        if used is not None and used > job.cost:
            log.warning("job %s reported %s credits used; charged the %s held", job.id, used, job.cost)
        return None
    return used


def _store(job_id: uuid.UUID, attempt: int, ctx: Context, config: Mapping[str, Any]) -> str | None:
    """Store the run's result under this attempt's name; None when it cannot be stored."""
    result = ctx.reported_result
    if result is None:
        return None
    key = results.key_for(job_id, attempt, result.content_type)
    try:
        results.store(config, key, result.data)
    except OSError:
        log.exception("job %s: result could not be stored in %s", job_id, config["RESULTS_DIR"])
        return None
    return key


def _stopped(job_id: uuid.UUID, ctx: Context, config: Mapping[str, Any], attempt: int) -> str:
    """The person pressed Stop: end the job canceled, charged what it reported used so far,
    keeping whatever result it gave."""
    used = ctx.reported_used or 0
    key = _store(job_id, attempt, ctx, config)
    result_type = ctx.reported_result.content_type if key and ctx.reported_result else None
    if used:
        message = "You stopped this; you were charged for what was done."
    else:
        message = "You stopped this before anything was done. You were not charged."
    ended = job_holds.end_job(
        job_id,
        "canceled",
        "stopped",
        message,
        ("running",),
        charge=used,
        result_key=key,
        result_type=result_type,
    )
    if ended is None and key:
        results.delete(config, key)
    log.info("job %s stopped: charged %s", job_id, ended.charged if ended else 0)
    return "stopped"


def _not_claimed(job_id: uuid.UUID, max_attempts: int) -> str:
    """A delivery that found nothing to run: end the job now if it can never run."""
    job = records.find(job_id)
    if job is None or job.ended:
        return "nothing_to_do"
    if job.deadline_at <= utcnow():
        job_holds.end_job_and_release(job_id, "failed", "deadline_exceeded", MESSAGES["deadline_exceeded"])
        return "deadline_exceeded"
    if job.attempts >= max_attempts and job.status == "queued":
        return _fail(job_id, "too_many_attempts", from_statuses=("queued",))
    return "nothing_to_do"  # running elsewhere, or waiting for its retry


def _feature_failed(
    job_id: uuid.UUID,
    attempt: int,
    exc: runnable.Failure,
    config: Mapping[str, Any],
    ctx: Context,
    retry: bool = True,
) -> str:
    """Retry a transient failure later (exponential back-off), or fail: charged what the run
    reported used before it failed (`ctx.used`; usually nothing, so the hold is released)."""
    max_attempts = int(config["JOB_MAX_ATTEMPTS"])
    delay = float(config["JOB_RETRY_BASE_SECONDS"]) * 2 ** (attempt - 1)
    job = records.find(job_id)
    retry_at = utcnow() + timedelta(seconds=delay)
    if retry and exc.transient and attempt < max_attempts and job is not None and retry_at < job.deadline_at:
        log.warning("job %s attempt %s: %s; retrying in %.1fs", job_id, attempt, exc.code, delay)
        if records.retry_later(job_id, attempt, retry_at):
            current_queue().enqueue(job_id, delay=delay)
        return "retrying"
    log.warning("job %s attempt %s: %s; giving up", job_id, attempt, exc.code)
    used = min(ctx.reported_used or 0, job.cost if job is not None else 0)
    if used:
        message = f"{exc.message} You were charged for what was done before it failed."
    else:
        message = f"{exc.message} You were not charged."
    job_holds.end_job(job_id, "failed", exc.code, message, ("running",), charge=used)
    return "failed"


def _fail(job_id: uuid.UUID, code: str, from_statuses: tuple[str, ...] = ("running",)) -> str:
    job_holds.end_job_and_release(job_id, "failed", code, MESSAGES[code], from_statuses)
    return "failed"
