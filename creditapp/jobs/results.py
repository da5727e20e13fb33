"""Stored results: one file per job attempt in RESULTS_DIR, kept RESULT_TTL_DAYS.

A result is bytes of any content type (the job row keeps the type, `result_type`): a
feature's `ctx.result(data=…, content_type=…)` as given, its text as UTF-8
(`text/plain; charset=utf-8`), its JSON serialised (`application/json`). The file's
extension follows the type, for whoever looks in the folder.

A result is written to a temporary name and renamed into place, so a reader never sees
half a file and writing the same attempt twice (a repeated delivery) is harmless. Web
instances and workers on different machines need RESULTS_DIR on shared storage.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def folder(config: Mapping[str, Any]) -> Path:
    """The results folder (created on first use)."""
    path = Path(config["RESULTS_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


TEXT_TYPE = "text/plain; charset=utf-8"
JSON_TYPE = "application/json"


def key_for(job_id: uuid.UUID, attempt: int, content_type: str = "image/png") -> str:
    """The file name of one attempt's result."""
    return f"{job_id}-{attempt}{extension(content_type)}"


def extension(content_type: str) -> str:
    """`.png` for image/png, `.txt` for text, `.bin` for a type nobody named."""
    bare = content_type.split(";", 1)[0].strip().lower()
    return {"text/plain": ".txt", "image/jpeg": ".jpg"}.get(bare) or mimetypes.guess_extension(bare) or ".bin"


def read(config: Mapping[str, Any], key: str) -> bytes | None:
    """A stored result's bytes, or None when it is gone."""
    path = path_of(config, key)
    try:
        return path.read_bytes() if path is not None else None
    except FileNotFoundError:
        return None


def store(config: Mapping[str, Any], key: str, data: bytes) -> None:
    """Write a result atomically; OSError when it cannot be stored."""
    target = folder(config) / key
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def path_of(config: Mapping[str, Any], key: str) -> Path | None:
    """Where a stored result is, or None when it is gone."""
    if "/" in key or key.startswith("."):
        return None
    path = Path(config["RESULTS_DIR"]) / key
    return path if path.is_file() else None


def delete(config: Mapping[str, Any], key: str) -> None:
    """Remove a result (nothing happens when it is already gone)."""
    if "/" not in key and not key.startswith("."):
        (Path(config["RESULTS_DIR"]) / key).unlink(missing_ok=True)


def delete_older_than(config: Mapping[str, Any], seconds: float) -> int:
    """Delete every file in the folder last written more than `seconds` ago; returns how many.

    This also removes results of attempts that lost a race or whose worker died.
    """
    path = Path(config["RESULTS_DIR"])
    if not path.is_dir():
        return 0
    cutoff = time.time() - seconds
    removed = 0
    for entry in path.iterdir():
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
