"""How a job is shown, whatever its feature: its JSON, its result's URL and inline form, and
its feature's words for the pages (`Shown`).

Nothing here knows a feature: the words come from the feature registered under the job's
`feature` (`runnable`), and a result is described by the content type it was stored with.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, url_for

from creditapp.jobs import records, results, runnable
from creditapp.teams.context import in_context

PNG = "image/png"
INLINE_TYPES = ("text/plain", "application/json")  # results the JSON carries inline


def ttl() -> timedelta:
    """How long results are kept (RESULT_TTL_DAYS)."""
    return timedelta(days=int(current_app.config["RESULT_TTL_DAYS"]))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def bare_type(content_type: str | None) -> str:
    """`text/plain` of `text/plain; charset=utf-8`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def result_url(job_id: uuid.UUID | str, content_type: str | None) -> str:
    """Where a result downloads: a PNG keeps its `result.png` URL, any type has `result`."""
    if bare_type(content_type) == PNG:
        return url_for("jobs.api_result", job_id=job_id)
    return url_for("jobs.api_result_file", job_id=job_id)


@dataclass(frozen=True)
class Shown:
    """How the pages show a job: its feature's words and what was asked."""

    title: str
    noun: str
    working: str
    again: str
    page_url: str | None
    summary: str
    result_template: str
    stoppable: bool
    streams: bool


def shown(job: records.Job) -> Shown:
    """The job's feature's words (a feature no longer installed: plain ones)."""
    try:
        feature: Any = runnable.get(job.feature)
    except KeyError:
        feature = None
    summary = ""
    if feature is not None and job.params:
        try:
            summary = feature.summary(dict(job.params))
        except Exception:  # noqa: BLE001 - parameters an updated feature cannot read: no summary
            summary = ""
    title = getattr(feature, "title", job.feature.replace("_", " ").capitalize())
    page_endpoint = getattr(feature, "page_endpoint", None)
    return Shown(
        title=title,
        noun=getattr(feature, "noun", "result"),
        working=getattr(feature, "working", "Working"),
        again=getattr(feature, "again_label", f"{title} again"),
        # In the page's context (an organization's job page: its form, `org` kept).
        page_url=in_context(page_endpoint) if page_endpoint in current_app.view_functions else None,
        summary=summary,
        result_template=getattr(feature, "result_template", None) or "jobs/_result.html",
        stoppable=bool(getattr(feature, "stoppable", False)),
        streams=bool(getattr(feature, "streams", False)),
    )


def stored(job: records.Job) -> bytes | None:
    """The job's stored result, or None when it has none (or it is gone)."""
    return results.read(current_app.config, job.result_key) if job.result_key else None


def result_json(job: records.Job, expired: bool) -> dict[str, Any] | None:
    """The job's result as the API shows it: text and JSON inline, anything else by URL
    (an image/png as `image_url`, its `result.png`; other types `url` and `content_type`)."""
    if expired or not job.has_result:
        return None
    kind = bare_type(job.result_type)
    if kind == PNG:
        return {"image_url": result_url(job.id, job.result_type)}
    if kind in INLINE_TYPES:
        data = stored(job)
        if data is None:
            return None
        if kind == "text/plain":
            return {"text": data.decode("utf-8", errors="replace")}
        return {"json": json.loads(data)}
    return {"url": result_url(job.id, job.result_type), "content_type": job.result_type}


def job_json(job: records.Job) -> dict[str, Any]:
    """The job as the API shows it (docs/design/jobs.md)."""
    expired = job.result_expired(ttl())
    result = result_json(job, expired)
    if job.has_result and result is None and not expired:
        expired = True  # the file is gone before its time: as good as expired
    error = None
    if job.status in ("failed", "canceled"):
        error = {"code": job.error or job.status, "message": job.error_message or ""}
    progress = None
    if job.progress is not None or job.progress_message:
        progress = {"fraction": job.progress, "message": job.progress_message or ""}
    return {
        "id": str(job.id),
        "status": job.status,
        "feature": job.feature,
        "cost": job.cost,
        "held": job.held if job.held is not None else job.cost,
        "charged": job.charged,
        "spend_id": job.spend_id,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "status_url": url_for("jobs.api_job", job_id=job.id),
        "result": result,
        "result_expired": expired,
        "error": error,
        "partial_text": job.partial_text,
        "progress": progress,
        "stop_requested": job.stop_requested,
    }
