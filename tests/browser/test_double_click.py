"""A double click on Generate in Chromium starts one job and charges once; the page shows that job."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.jobs import job, run_queued
from tests.support.spending import balance, spends

pytestmark = pytest.mark.browser

FORM_KEY = "form.feature-form input[name=form_key]"
JOB_ID = re.compile(r"^job-([0-9a-f-]{36})$")


@pytest.fixture
def image_form(chromium, live_server, app, make_user, sign_in_as):
    """A signed-in page on the image form (no job workers: the test runs the queue itself).

    Yields the page, the user, and the answers to the form's POSTs as they arrive.
    """
    user = make_user(credits=500)
    client = sign_in_as(app.test_client(), user)
    client.get("/account")
    context = chromium.new_context(base_url=live_server)
    host = urlsplit(live_server).hostname
    context.add_cookies(
        [{"name": "session", "value": client.get_cookie("session").value, "domain": host, "path": "/"}]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    answers: list[int] = []
    page.on("response", lambda r: _is_generate(r.request) and answers.append(r.status))
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto("/features/image")
    page.get_by_label("Size", exact=True).select_option("256")
    expect(page.locator("#quote")).to_contain_text("A 256 × 256 image costs")
    page.get_by_label("Describe the image").fill("a lighthouse at dusk, watercolour")
    yield page, user, answers
    context.close()
    assert problems == []  # no script error, no CSP refusal


def _is_generate(request) -> bool:
    return request.method == "POST" and urlsplit(request.url).path == "/features/image"


def _wait_for(page, condition, what: str, seconds: float = 15) -> None:
    """Poll `condition` until it holds; the page's own waits let Playwright deliver its events."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        page.wait_for_timeout(20)


@pytest.mark.parametrize("gap_ms", [150, 400])
def test_a_double_click_starts_one_job_and_charges_once(image_form, app, gap_ms):
    page, user, answers = image_form
    generate = page.get_by_role("button", name="Generate image")

    generate.click()
    page.wait_for_timeout(gap_ms)  # the person's second click, as it came in the report
    generate.click()  # Playwright waits for the button to be enabled: the quick 202 turns it back on
    _wait_for(page, lambda: len(answers) == 2, "both clicks' answers")

    assert answers[0] == 202 and answers[1] in (200, 202)
    [spend] = spends(user)
    assert spend.credits_spent == 5 and balance(user) == 495
    shown = page.locator("#result .job")
    expect(shown).to_have_count(1)
    job_id = JOB_ID.match(shown.get_attribute("id")).group(1)
    assert job(job_id).spend_id == spend.id
    expect(page.locator(f"#job-{job_id}-status")).to_contain_text("a lighthouse at dusk")

    # Once the result is shown the form has a fresh key: the next Generate is a new image.
    first_key = page.locator(FORM_KEY).input_value()
    run_queued(app)
    expect(page.locator(f"#job-{job_id}")).to_contain_text("Done")
    expect(page.locator(FORM_KEY)).not_to_have_value(first_key)
    generate.click()
    _wait_for(page, lambda: len(answers) == 3, "the third click's answer")
    assert answers[2] == 202
    assert [s.credits_spent for s in spends(user)] == [5, 5] and balance(user) == 490
