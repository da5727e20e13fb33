"""Every place a page states the balance moves with the badge: two tabs, a spend in one, Back in the other."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import ARTIFACTS
from tests.browser.test_journey import Journey

pytestmark = pytest.mark.browser


def shows(page: Page, locator: str, number: str) -> None:
    """The badge and the page's own sentence both say `number`, waited for in the DOM."""
    expect(page.locator("#credit-badge")).to_have_text(re.compile(rf"^{re.escape(number)} credits"))
    expect(page.locator(locator)).to_have_text(number)


def test_home_and_pricing_follow_a_spend_made_in_another_tab_and_after_back(
    live_server, emulator, browser_page
):
    tab_a = browser_page
    journey = Journey(tab_a, ARTIFACTS, live_server)
    journey.sign_in("two-balances@example.com", "Two Balances")
    shows(tab_a, "#home-balance", "500")
    tab_b = tab_a.context.new_page()
    spender = Journey(tab_b, ARTIFACTS, live_server)
    tab_b.goto("/features/image")

    # Spend in tab B: tab A's home page says the new number in the badge and in the sentence.
    tab_a.evaluate("window.notReloaded = true")
    spender.generate(512)
    expect(tab_b.locator("#result .job-status")).to_contain_text("Done")
    expect(tab_b.locator("#credit-badge")).to_have_text("490 credits")
    shows(tab_a, "#home-balance", "490")
    assert tab_a.evaluate("window.notReloaded") is True  # updated in place, not reloaded

    # Tab A on pricing; another spend in tab B; both numbers on the pricing page follow.
    tab_a.get_by_role("link", name="Buy credits").first.click()
    tab_a.wait_for_url(re.compile(r"/buy-credits$"))
    shows(tab_a, "#pricing-balance", "490")
    tab_a.evaluate("window.notReloaded = true")
    spender.generate(256)
    expect(tab_b.locator("#credit-badge")).to_have_text("485 credits")
    shows(tab_a, "#pricing-balance", "485")
    assert tab_a.evaluate("window.notReloaded") is True

    # Another spend while tab A is on pricing, then Back to home: the restored page agrees.
    # (Another prompt: the same form sent again before its result is one image, not two.)
    spender.generate(256, prompt="The same lighthouse at dawn")
    expect(tab_b.locator("#credit-badge")).to_have_text("480 credits")
    shows(tab_a, "#pricing-balance", "480")
    tab_b.goto("/history")  # tab B out of the way: Back must not depend on its messages
    journey.drain(1, 512)  # a spend no tab hears about: Back itself must ask
    tab_a.go_back()
    tab_a.wait_for_url(re.compile(r"/$"))
    shows(tab_a, "#home-balance", "470")
    tab_a.go_forward()
    tab_a.wait_for_url(re.compile(r"/buy-credits$"))
    shows(tab_a, "#pricing-balance", "470")

    assert journey.problems == [] and spender.problems == [], journey.problems + spender.problems
