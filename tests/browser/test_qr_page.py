"""The QR code page in Chromium: its generated form and its result pass axe in light and dark,
and the code shown on the page scans back to the text typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import ARTIFACTS, States
from tests.browser.test_journey import Journey
from tests.features.test_qr import scanned

pytestmark = pytest.mark.browser

TEXT = "https://example.com/menu?table=7"


def test_the_qr_page_makes_a_code_that_scans_and_every_state_passes_axe(live_server, emulator, browser_page):
    page, states = browser_page, States("qr")
    journey = Journey(page, ARTIFACTS, live_server)
    journey.sign_in("qr@example.com", "QR Person")

    page.get_by_role("link", name="Make QR code").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("QR code")
    expect(page.locator("#quote")).to_contain_text("This costs 1 credit. You have 500.")
    states.check(page, "qr-form", dark_shot=True)
    page.get_by_label("Text").fill(TEXT)
    page.get_by_role("button", name="Make QR code").click()

    expect(page.locator("#result .job-status")).to_contain_text("Done")
    expect(page.locator("#credit-badge")).to_have_text("499 credits")
    image = page.locator("#result img")
    expect(image).to_have_attribute("alt", f"QR code: {TEXT}")
    states.check(page, "qr-made", dark_shot=True)
    png = page.request.get(image.get_attribute("src"))
    assert png.headers["content-type"] == "image/png" and scanned(png.body()) == TEXT

    assert states.problems == [], "\n".join(states.problems)
    assert journey.problems == [], journey.problems
