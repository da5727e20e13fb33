"""What a running feature reports through: its result, what it used, text and progress as they come.

The runner builds one `Context` per attempt and hands it to `feature.run(params, ctx)`
(`creditapp.features.Feature`, which re-exports this class). Nothing here touches the
ledger: the runner reads the context once `run` returns and stores, captures or releases.

While a job runs, what a person watches (`partial` text, `progress`) is written to its
`feature_jobs` row at most every `FLUSH_SECONDS`, and the same write reads the stop flag
(the person pressed Stop), so a streaming feature costs the database a few small updates a
second, not one per token. An instant feature (run inside the request) has no job page to
watch: nothing is written until it ends, and it is never stopped.
"""

from __future__ import annotations

import json as jsonlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from creditapp.jobs import records
from creditapp.jobs.results import JSON_TYPE, TEXT_TYPE

FLUSH_SECONDS = 0.1  # what a person watches is at most this old
STOP_CHECK_SECONDS = 0.2  # how often `stopped()` asks the database, between flushes
MAX_PROGRESS_MESSAGE = 200


@dataclass(frozen=True)
class Result:
    """What a run gave to keep: bytes and their content type."""

    data: bytes
    content_type: str


class Context:
    """One attempt of one feature use: read `params`, `config`, `job_id` (None for an instant
    feature) and `timeout` (seconds this attempt may take); report with `result`, `used`,
    `partial`, `progress`; ask `stopped()` in long loops."""

    def __init__(
        self,
        params: dict[str, Any],
        config: Mapping[str, Any],
        job_id: uuid.UUID | None = None,
        timeout: float | None = None,
    ) -> None:
        self.params = params
        self.config = config
        self.job_id = job_id
        self.timeout = timeout
        self.reported_result: Result | None = None
        self.reported_used: int | None = None
        self._partial: list[str] = []
        self._progress: float | None = None
        self._message: str | None = None
        self._dirty = False
        self._flushed_at = 0.0
        self._checked_at = 0.0
        self._stopped = False

    # --- what the feature calls ----------------------------------------------------------

    def result(
        self,
        *,
        text: str | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        json: Any = None,
    ) -> None:
        """Give the result to keep: `text=`, `data=` with its `content_type`, or `json=` (one of
        them; a second call replaces the first)."""
        given = [
            name for name, value in (("text", text), ("data", data), ("json", json)) if value is not None
        ]
        if len(given) != 1:
            raise ValueError("ctx.result takes exactly one of text=, data= or json=")
        if text is not None:
            if not isinstance(text, str):
                raise TypeError("ctx.result(text=…) takes a str")
            self.reported_result = Result(text.encode("utf-8"), TEXT_TYPE)
        elif data is not None:
            if not isinstance(data, bytes | bytearray) or not content_type:
                raise TypeError("ctx.result(data=…) takes bytes and a content_type")
            self.reported_result = Result(bytes(data), content_type)
        else:
            self.reported_result = Result(jsonlib.dumps(json).encode("utf-8"), JSON_TYPE)

    def used(self, credits: int) -> None:
        """What the work really cost so far, in credits (the total, not an increment).

        Without a call, the use costs its estimate. The capture never charges more than
        the hold, so a figure above the estimate is charged as the estimate.
        """
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
            raise ValueError("ctx.used takes a whole number of credits, 0 or more")
        self.reported_used = credits

    def partial(self, text: str) -> None:
        """Append text a person watches arrive (a streamed answer)."""
        if text:
            self._partial.append(text)
            self._changed()

    def progress(self, fraction: float | None = None, message: str = "") -> None:
        """Say how far the work is: a fraction from 0 to 1 (None: unknown) and a few words."""
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self._progress = fraction
        self._message = message[:MAX_PROGRESS_MESSAGE] or None
        self._changed()

    def stopped(self) -> bool:
        """True once the person pressed Stop: end early (what `used` says so far is charged)."""
        if self._stopped or self.job_id is None:
            return self._stopped
        now = time.monotonic()
        # Text waiting to be written goes out with the next flush (it reads the flag too),
        # at most every FLUSH_SECONDS: a feature asking after every token writes no more often.
        if self._dirty and now - self._flushed_at >= FLUSH_SECONDS:
            self.flush()
        elif now - self._checked_at >= STOP_CHECK_SECONDS:
            self._checked_at = now
            self._stopped = records.stop_requested(self.job_id)
        return self._stopped

    # --- what the runner reads -----------------------------------------------------------

    @property
    def partial_text(self) -> str:
        """Everything `partial` was given, in order."""
        return "".join(self._partial)

    @property
    def stop_seen(self) -> bool:
        """Whether the stop flag was seen (after a final `flush`)."""
        return self._stopped

    def flush(self) -> None:
        """Write what a person watches now (and read the stop flag)."""
        if self.job_id is None:
            return
        self._dirty = False
        self._flushed_at = self._checked_at = time.monotonic()
        text = self.partial_text if self._partial else None
        if records.save_live(self.job_id, text, self._progress, self._message):
            self._stopped = True

    def _changed(self) -> None:
        self._dirty = True
        if self.job_id is not None and time.monotonic() - self._flushed_at >= FLUSH_SECONDS:
            self.flush()
