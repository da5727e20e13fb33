"""The assistant in Chromium: the answer's first words show while the Responses stand-in is still
sending, the whole answer replaces them, and Stop mid-answer charges the text delivered.

No timing is asserted: each step waits on what the page or the stand-in's call log shows (the
bench measures how soon the first words appear: `python -m bench streaming`).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from creditapp import ledger
from creditapp.extensions import db
from creditapp.features.assistant import pricing
from creditapp.models import CreditSpend
from tests.browser.pages import States
from tests.browser.test_credits_page import signed_in
from tests.support.assistant import PRICE, UNPACED, ResponsesStandIn, answer_to, price_of, settings_for
from tests.support.jobs import job

pytestmark = pytest.mark.browser

JOB_ID = re.compile(r"^job-([0-9a-f-]{36})$")
QUESTION = "What happens to my credits while an answer is written?"


@pytest.fixture
def stand_in(app, emulator, monkeypatch) -> ResponsesStandIn:
    """The live app's assistant pointed at the stand-in, at PRICE."""
    openai = ResponsesStandIn(emulator.base_url)
    openai.reset(**UNPACED)
    for name, value in settings_for(openai, PRICE).items():
        monkeypatch.setitem(app.config, name, value)
    return openai


def ask(page, question: str) -> str:
    """Ask on the assistant's page; the id of the job shown under the form."""
    page.goto("/features/assistant")
    page.get_by_label("Your question").fill(question)  # the price follows the question as it is typed
    most = price_of(PRICE, len(question.encode()) + pricing.FRAMING_TOKENS + 512)
    expect(page.locator("#quote")).to_contain_text(f"This costs at most {most} credits")
    page.get_by_role("button", name="Ask").click()
    shown = page.locator("#result .job")
    expect(shown).to_have_count(1)
    return JOB_ID.match(shown.get_attribute("id")).group(1)


def spend_of(job_id: str) -> CreditSpend:
    db.session.expire_all()
    spend_id = job(job_id).spend_id
    return db.session.execute(sa.select(CreditSpend).where(CreditSpend.id == spend_id)).scalar_one()


def test_the_first_words_show_while_the_stand_in_is_still_sending_then_the_whole_answer(
    app, live_server, browser_page, make_user, sign_in_as, stand_in
):
    page, states = browser_page, States("assistant")
    user_id = make_user(credits=500)
    signed_in(page.context, app, sign_in_as, user_id, live_server)
    stand_in.configure(responses_tokens_per_second=15, responses_output_tokens=60)  # about 4 s of text

    job_id = ask(page, QUESTION)
    streamed = page.locator(f"#job-{job_id}-partial")
    expect(streamed).to_contain_text(re.compile(r"\w"))
    seen_while_sending = streamed.inner_text()
    [call] = stand_in.calls()

    assert call["outcome"] == "in_progress", "the page showed text before the stream ended"
    assert 0 < call["output_tokens_sent"] < 60
    assert answer_to(QUESTION, 60).startswith(seen_while_sending.strip())
    expect(page.locator(f"#job-{job_id}-status")).to_contain_text("Writing")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()

    answer = page.locator(f"#job-{job_id} .result-text")
    expect(answer).to_have_text(answer_to(QUESTION, 60), timeout=30_000)
    [call] = stand_in.calls()
    usage = call["usage"]
    charge = price_of(PRICE, usage["input_tokens"] + usage["output_tokens"])
    held = spend_of(job_id).credits_held
    expect(page.locator(f"#job-{job_id}-status")).to_contain_text(f"held {held}, charged {charge} credits")
    expect(page.locator("#credit-badge")).to_contain_text(f"{500 - charge} credits")
    states.check(page, "assistant-answer")
    assert ledger.audit() == []
    assert states.problems == [], "\n".join(states.problems)


def test_stop_mid_answer_in_the_browser_charges_the_text_delivered(
    app, live_server, browser_page, make_user, sign_in_as, stand_in
):
    page, states = browser_page, States("assistant")
    user_id = make_user(credits=500)
    signed_in(page.context, app, sign_in_as, user_id, live_server)
    stand_in.configure(
        responses_tokens_per_second=15, responses_output_tokens=400
    )  # far longer than the test

    job_id = ask(page, QUESTION)
    streamed = page.locator(f"#job-{job_id}-partial")
    expect(streamed).to_contain_text(re.compile(r"\w+ \w+ \w+"))  # a few words in
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(f"#job-{job_id}-status")).to_contain_text("Canceled", timeout=15_000)

    kept = page.locator(f"#job-{job_id} .result-text").inner_text()
    delivered = pricing.counted_input_tokens(job(job_id).partial_text)
    charge = price_of(PRICE, pricing.counted_input_tokens(QUESTION) + delivered)
    spend = spend_of(job_id)
    [call] = stand_in.wait_for(lambda log: log[0]["outcome"] != "in_progress", "the stream to be cut")
    assert call["outcome"] == "disconnected" and delivered <= call["output_tokens_sent"] < 400
    assert kept == job(job_id).partial_text == answer_to(QUESTION, 400)[: len(kept)]
    assert (spend.status, spend.credits_spent) == ("captured", charge)
    expect(page.locator(f"#job-{job_id}-status")).to_contain_text(
        f"held {spend.credits_held}, charged {charge} credits"
    )
    expect(page.locator(f"#job-{job_id}")).to_contain_text(
        "You stopped this; you were charged for what was done."
    )
    states.check(page, "assistant-stopped")
    assert ledger.balance(user_id).credits == 500 - charge and ledger.audit() == []
    assert states.problems == [], "\n".join(states.problems)
