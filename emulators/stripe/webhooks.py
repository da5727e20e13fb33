"""Webhook delivery: Stripe-style signatures per endpoint, one worker thread, retries with backoff."""

from __future__ import annotations

import heapq
import hmac
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from hashlib import sha256
from typing import Any

import requests


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """Return the ``Stripe-Signature`` header value for ``body`` as Stripe computes it."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class _Job:
    event_id: str
    event_type: str
    body: bytes
    endpoint_id: str
    attempt: int
    generation: int
    resend: bool = False


class WebhookDispatcher:
    """Posts queued events to their endpoints; first attempts go out in event order.

    Each job names an endpoint; its URL and secret are looked up when the attempt is made,
    so an endpoint updated (or deleted) meanwhile gets (or stops getting) its retries.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.5,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.enabled = enabled
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.timeout_seconds = timeout_seconds
        self.resolve: Callable[[str], tuple[str, str] | None] = lambda _endpoint_id: None
        self._cond = threading.Condition()
        # Heap of (due time, sequence, job): retries wait their turn without blocking new events.
        self._queue: list[tuple[float, int, _Job]] = []
        self._sequence = itertools.count()
        self._generation = 0
        self._deliveries: list[dict[str, Any]] = []
        self._in_flight = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread; undelivered events are dropped."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def enqueue(
        self, event_id: str, event_type: str, body: bytes, endpoint_id: str, *, resend: bool = False
    ) -> None:
        """Queue the first delivery attempt of an event to one endpoint (or of a manual resend)."""
        with self._cond:
            job = _Job(event_id, event_type, body, endpoint_id, 1, self._generation, resend)
            heapq.heappush(self._queue, (time.monotonic(), next(self._sequence), job))
            self._cond.notify_all()

    def config(self) -> dict[str, Any]:
        """Return the settings that can be changed at run time."""
        with self._cond:
            return {
                "webhooks_enabled": self.enabled,
                "max_attempts": self.max_attempts,
                "retry_base_seconds": self.retry_base_seconds,
            }

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply run-time settings (``webhooks_enabled``, ``max_attempts``, ``retry_base_seconds``)."""
        names = {"webhooks_enabled": "enabled"}
        with self._cond:
            for key, value in changes.items():
                setattr(self, names.get(key, key), value)

    def deliveries(
        self, event_id: str | None = None, event_type: str | None = None, endpoint_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Return every recorded attempt, oldest first, optionally filtered."""
        with self._cond:
            return [
                dict(record)
                for record in self._deliveries
                if (event_id is None or record["event_id"] == event_id)
                and (event_type is None or record["type"] == event_type)
                and (endpoint_id is None or record["endpoint"] == endpoint_id)
            ]

    def delivered(self, event_id: str) -> bool:
        """True when every endpoint that was sent the event has answered one attempt with 2xx."""
        with self._cond:
            if any(job.event_id == event_id for _due, _seq, job in self._queue):
                return False
            attempts = [record for record in self._deliveries if record["event_id"] == event_id]
            tried = {record["endpoint"] for record in attempts}
            return tried == {record["endpoint"] for record in attempts if record["error"] is None}

    def pending(self) -> int:
        """Return how many attempts are queued, scheduled for retry or being sent."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def reset(self) -> None:
        """Drop queued attempts and the delivery log; an attempt in flight is not recorded."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._deliveries.clear()

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False  # never send local webhooks through a proxy from the environment
        while True:
            with self._cond:
                job = self._next_due_job()
                if job is None:
                    return
                timeout = self.timeout_seconds
                self._in_flight += 1
            # Looked up outside the condition: the store's lock is taken while it enqueues.
            target = self.resolve(job.endpoint_id)
            if target is None:  # the endpoint was deleted or disabled: Stripe stops sending
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()
                continue
            url, secret = target
            status_code, error, response = self._post(session, job, url, secret, timeout)
            with self._cond:
                self._in_flight -= 1
                if job.generation != self._generation:
                    continue
                self._deliveries.append(
                    {
                        "event_id": job.event_id,
                        "type": job.event_type,
                        "endpoint": job.endpoint_id,
                        "attempt": job.attempt,
                        "resend": job.resend,
                        "status_code": status_code,
                        "error": error,
                        "at": time.time(),
                        "url": url,
                        "response": response,
                    }
                )
                if error is not None and job.attempt < self.max_attempts:
                    delay = self.retry_base_seconds * 2 ** (job.attempt - 1)
                    retry = replace(job, attempt=job.attempt + 1)
                    heapq.heappush(self._queue, (time.monotonic() + delay, next(self._sequence), retry))
                self._cond.notify_all()

    def _next_due_job(self) -> _Job | None:
        """Wait (holding the condition) until a job is due; None when stopping."""
        while not self._stopping:
            if self._queue:
                wait = self._queue[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._queue)[2]
                self._cond.wait(wait)
            else:
                self._cond.wait()
        return None

    @staticmethod
    def _post(
        session: requests.Session, job: _Job, url: str, secret: str, timeout: float
    ) -> tuple[int | None, str | None, str | None]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(job.body, secret, int(time.time())),
        }
        try:
            reply = session.post(url, data=job.body, headers=headers, timeout=timeout, allow_redirects=False)
        except Exception as exc:  # connection errors, timeouts, bad URLs: the worker must go on
            return None, f"{type(exc).__name__}: {str(exc)[:300]}", None
        text = reply.text[:500]
        if 200 <= reply.status_code < 300:
            return reply.status_code, None, text
        return reply.status_code, f"HTTP {reply.status_code}", text
