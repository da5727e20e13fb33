"""The whole journey in Chromium: sign in, spend, buy, watch the badge, read the history."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from creditapp import ledger

pytestmark = pytest.mark.browser

PROMPT = "a lighthouse at dusk, watercolour"


class Journey:
    """Steps a person takes, with a numbered screenshot after each one worth seeing."""

    def __init__(self, page: Page, folder, app_url: str) -> None:
        self.page = page
        self.folder = folder
        self.shots = 0
        self.problems: list[str] = []
        self.app_errors: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)
        page.on(
            "response",
            lambda r: (
                r.status >= 400
                and r.url.startswith(app_url)
                and self.app_errors.append(f"{r.request.method} {r.url[len(app_url) :]} {r.status}")
            ),
        )

    def _console(self, message) -> None:
        # Failed loads are checked through `app_errors` (the stand-ins serve no favicon).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def shot(self, name: str) -> None:
        self.shots += 1
        self.page.screenshot(path=str(self.folder / f"{self.shots:02d}-{name}.png"), full_page=True)

    @property
    def badge(self):
        return self.page.locator("#credit-badge")

    def sign_in(self, email: str, name: str) -> None:
        self.page.goto("/")
        self.page.get_by_role("link", name="Sign in with Google").first.click()
        self.page.get_by_role("textbox", name="Email").fill(email)
        self.page.get_by_role("textbox", name="Name").fill(name)
        self.page.get_by_role("button", name="Sign in", exact=True).click()

    def generate(self, size: int, prompt: str = PROMPT) -> None:
        if not self.page.url.endswith("/features/image"):
            self.page.get_by_role("link", name="Generate image").click()
        self.page.get_by_label("Size", exact=True).select_option(str(size))
        expect(self.page.locator("#quote")).to_contain_text(f"A {size} × {size} image costs")
        self.page.get_by_label("Describe the image").fill(prompt)
        self.page.get_by_role("button", name="Generate image").click()

    def drain(self, times: int, size: int) -> None:
        """Spend through the JSON API with the page's session and CSRF token (quicker than clicks)."""
        token = self.page.locator('meta[name="csrf-token"]').get_attribute("content")
        for i in range(times):
            response = self.page.request.post(
                "/api/features/image",
                data={"prompt": f"{PROMPT} #{i}", "size": size},
                headers={"X-CSRFToken": token},
            )
            assert response.status == 202, response.text()

    def no_horizontal_scroll(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_sign_in_spend_buy_and_read_the_history(app, live_server, emulator, browser_page, screenshots):
    journey = Journey(browser_page, screenshots, live_server)
    page, badge = browser_page, journey.badge

    journey.sign_in("journey@example.com", "Journey Tester")
    expect(badge).to_have_text("500 credits")
    expect(page.locator("#home-balance")).to_have_text("500")
    journey.shot("signed-in")

    page.get_by_role("link", name="Generate image").click()
    page.get_by_label("Size", exact=True).select_option("1024")
    expect(page.locator("#quote")).to_contain_text("costs 20 credits")
    journey.shot("image-form-with-quote")

    page.evaluate("window.notReloaded = true")
    journey.generate(512)
    expect(page.locator("#result .job-status")).to_contain_text("Done")  # queued → generating → done
    picture = page.locator("#result figure img")
    expect(picture).to_be_visible()
    expect(badge).to_have_text("490 credits")
    expect(page.locator("#quote")).to_contain_text("You have 490")
    assert page.evaluate("window.notReloaded") is True, "the badge must update without a page load"
    assert picture.evaluate("img => img.naturalWidth") == 512
    journey.shot("image-generated-badge-490")

    page.get_by_role("link", name="Buy credits").first.click()
    journey.shot("buy-credits")
    page.get_by_role("button", name=re.compile(r"^Buy 500 credits")).click()
    page.wait_for_url(re.compile(r"/c/pay/cs_"))
    journey.shot("stripe-checkout")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(re.compile(r"/checkout/success\?session_id=cs_"))
    expect(badge).to_have_text("990 credits", timeout=20_000)
    journey.shot("purchase-success-badge-990")

    page.get_by_role("link", name="History", exact=True).click()
    entries = page.locator("#ledger-rows tr.entry")
    expect(entries).to_have_count(3)
    expect(entries.nth(0)).to_contain_text("Bought 500 credits")
    expect(entries.nth(0)).to_contain_text("+500")
    expect(entries.nth(1)).to_contain_text("Image generation")
    expect(entries.nth(1)).to_contain_text("-10")
    expect(entries.nth(2)).to_contain_text("Signup bonus")
    expect(page.locator("svg.spend-chart")).to_be_visible()
    journey.shot("history")

    journey.drain(48, 1024)  # 990 - 48 × 20 = 30 credits left
    page.get_by_role("link", name="Generate image").click()
    expect(badge).to_have_text("30 credits")
    journey.generate(1024)
    expect(badge).to_have_text("10 credits")
    # 10 credits cannot pay for 1024 px: Generate is disabled and says why.
    expect(page.locator("#generate-button")).to_be_disabled()
    expect(page.locator("#generate-blocked")).to_have_text("You need 20 credits for this size and have 10.")
    buy_link = page.locator("#quote").get_by_role("link", name="buy credits")
    expect(buy_link).to_have_attribute("href", "/buy-credits")
    journey.shot("not-enough-credits")
    page.get_by_label("Size", exact=True).select_option("512")
    expect(page.locator("#generate-button")).to_be_enabled()
    page.get_by_label("Size", exact=True).select_option("1024")
    buy_link = page.locator("#quote").get_by_role("link", name="buy credits")
    buy_link.click()
    page.wait_for_url(re.compile(r"/buy-credits$"))

    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/features/image")
    assert journey.no_horizontal_scroll(), "the image page must fit a phone-width screen"
    journey.shot("phone-width-image-page")
    page.goto("/history")
    assert journey.no_horizontal_scroll(), "the history page must fit a phone-width screen"
    expect(entries).to_have_count(50)
    page.get_by_role("button", name="Load more").click()
    expect(entries).to_have_count(52)  # bonus, purchase, 50 spends: the second page swapped in
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    expect(entries.last).to_contain_text("Signup bonus")
    journey.shot("phone-width-history-all-loaded")

    assert journey.problems == [], journey.problems  # no script errors, no CSP violations
    assert journey.app_errors == []
    assert ledger.audit() == []
    user_id = ledger.user_id_for_email("journey@example.com")
    assert ledger.balance(user_id).credits == 10
