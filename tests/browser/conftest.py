"""Chromium through Playwright, driving the live app and the stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jobs import worker_threads
from tests.support.system import missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """The system Chromium; a loud skip when it is missing locally, a failure in CI."""
    if not CHROMIUM.exists():
        missing(f"BROWSER TESTS NOT RUN: {CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def job_worker(app):
    """Job workers for the live app: threads running its queue, as `flask jobs worker` does."""
    with worker_threads(app):
        yield


@pytest.fixture
def browser_page(chromium, live_server, job_worker):
    """A fresh browser profile (no cookies) with a page, and job workers; failed steps fail fast."""
    context = chromium.new_context(viewport={"width": 1100, "height": 900}, base_url=live_server)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the numbered step screenshots go (test-artifacts/screenshots/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
