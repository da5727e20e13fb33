"""What a worker does with one job id: claim → run with a deadline → store → capture.

Every step is safe to repeat, because the queue delivers at least once: the claim is a
conditional update (a second delivery finds the job running or ended and does nothing),
each attempt stores its result under its own name, and capture happens only if the job
is still running and its hold still held. A failure releases the hold; a result that
cannot be stored releases it too, so nobody pays for a result they cannot fetch.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import current_app

from creditapp.jobs import records, results, runnable
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
    "too_many_attempts": "The image could not be made after several tries. You were not charged.",
    "deadline_exceeded": "The image was not ready in time. You were not charged.",
}


def run(job_id: uuid.UUID, config: Mapping[str, Any] | None = None) -> str:
    """Run one delivery of a job; returns what happened (for logs and tests)."""
    config = config if config is not None else current_app.config
    max_attempts = int(config["JOB_MAX_ATTEMPTS"])
    timeout = _attempt_timeout(config)
    claim = records.claim(job_id, timedelta(seconds=timeout + LEASE_GRACE_SECONDS), max_attempts)
    if claim is None:
        return _not_claimed(job_id, max_attempts)
    job, attempt = claim.job, claim.attempt
    feature = runnable.get(job.feature)
    remaining = (job.deadline_at - utcnow()).total_seconds()
    try:
        params = feature.parse(job.params, config)
        output = feature.run(params, config, min(feature.timeout(config), max(1.0, remaining)))
    except InvalidInput:
        return _fail(job_id, "invalid_input")
    except Exception as exc:
        failure = feature.failure(exc)
        if failure is not None:
            return _feature_failed(job_id, attempt, failure, config)
        log.exception("job %s failed", job_id)
        return _fail(job_id, "internal_error")
    key = results.key_for(job_id, attempt)
    try:
        results.store(config, key, feature.result_bytes(output))
    except OSError:
        log.exception("job %s: result could not be stored in %s", job_id, config["RESULTS_DIR"])
        return _fail(job_id, "result_not_stored")
    outcome = job_holds.succeed_job(job_id, key)
    if outcome != "succeeded":
        results.delete(config, key)  # another delivery won, or the hold was given back: not paid for
    log.info("job %s attempt %s: %s", job_id, attempt, outcome)
    return outcome


def _attempt_timeout(config: Mapping[str, Any]) -> float:
    """How long one attempt may take, for the claim's lease: the slowest registered feature's timeout.

    The lease is taken before the job (and so its feature) is read.
    """
    return max((feature.timeout(config) for feature in runnable.every()), default=60.0)


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


def _feature_failed(job_id: uuid.UUID, attempt: int, exc: runnable.Failure, config: Mapping[str, Any]) -> str:
    """Retry a transient failure later (exponential back-off), or fail and release."""
    max_attempts = int(config["JOB_MAX_ATTEMPTS"])
    delay = float(config["JOB_RETRY_BASE_SECONDS"]) * 2 ** (attempt - 1)
    job = records.find(job_id)
    retry_at = utcnow() + timedelta(seconds=delay)
    if exc.transient and attempt < max_attempts and job is not None and retry_at < job.deadline_at:
        log.warning("job %s attempt %s: %s; retrying in %.1fs", job_id, attempt, exc.code, delay)
        if records.retry_later(job_id, attempt, retry_at):
            current_queue().enqueue(job_id, delay=delay)
        return "retrying"
    log.warning("job %s attempt %s: %s; giving up", job_id, attempt, exc.code)
    job_holds.end_job_and_release(
        job_id, "failed", exc.code, f"{exc.message} You were not charged.", ("running",)
    )
    return "failed"


def _fail(job_id: uuid.UUID, code: str, from_statuses: tuple[str, ...] = ("running",)) -> str:
    job_holds.end_job_and_release(job_id, "failed", code, MESSAGES[code], from_statuses)
    return "failed"
