"""What to do when a system part a test needs (Chromium, PgBouncer, initdb) is missing."""

from __future__ import annotations

import os

import pytest


def missing(reason: str) -> None:
    """Skip loudly on a developer's machine; under CI (CI=true) fail, never skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)
