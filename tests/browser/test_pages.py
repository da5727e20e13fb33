"""The pages in Chromium as a person meets them: every state checked by axe-core in light and dark."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import Page, expect

from creditapp import ledger
from tests.browser.pages import ARTIFACTS, States
from tests.browser.test_journey import PROMPT, Journey
from tests.history.test_history import buy

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1100, "height": 900}


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def active(page: Page) -> dict:
    return page.evaluate(
        "({id: document.activeElement.id, tag: document.activeElement.tagName,"
        " row: [...document.querySelectorAll('#ledger-rows tr.entry')].indexOf(document.activeElement)})"
    )


def test_the_pricing_table_is_open_before_sign_in_on_phone_and_desktop(live_server, emulator, browser_page):
    page, states = browser_page, States("signed-out")

    page.goto("/")
    states.check(page, "home-signed-out")
    page.get_by_role("link", name="Pricing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Buy credits")
    expect(page.locator(".pack-per-credit")).to_have_text(["$0.05", "$0.04", "$0.035"])
    expect(page.locator(".pack-saving")).to_have_text(["—", "20% vs the 100 pack", "30% vs the 100 pack"])
    expect(page.locator(".pack-images")).to_have_text(
        ["10 images at 512 px", "50 images at 512 px", "100 images at 512 px"]
    )
    sign_in_link = page.get_by_role("link", name="Sign in to buy 500 credits")
    expect(sign_in_link).to_have_attribute("href", "/login?next=/buy-credits")
    states.check(page, "pricing-signed-out", dark_shot=True)
    page.set_viewport_size(PHONE)
    assert fits(page), "the pricing table must fit a phone"
    states.check(page, "pricing-signed-out-phone")
    page.set_viewport_size(DESKTOP)
    sign_in_link.click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    states.check(page, "google-sign-in", dark_shot=True)
    page.get_by_role("textbox", name="Email").fill("pricing@example.com")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/buy-credits$"))  # back where the person was going
    expect(page.locator(".balance-line")).to_contain_text("500 credits")
    page.goto("/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")  # words, not "404"
    states.check(page, "error-not-found")
    page.goto("/account")
    states.check(page, "account")

    assert states.problems == [], "\n".join(states.problems)


def test_the_balance_is_right_in_two_tabs_after_back_forward_and_on_focus_with_keyboard_focus_kept(
    app, live_server, emulator, browser_page
):
    page, states = browser_page, States("balance")
    journey = Journey(page, ARTIFACTS, live_server)
    journey.sign_in("tabs@example.com", "Tab Person")
    badge = page.locator("#credit-badge")
    expect(badge).to_have_text("500 credits")
    states.check(page, "home-signed-in")
    other = page.context.new_page()
    other.goto("/history")
    other_badge = other.locator("#credit-badge")
    expect(other_badge).to_have_text("500 credits")
    other.evaluate("window.notReloaded = true")

    # Keyboard only: type the prompt, Tab to the size and to Generate, press Enter.
    page.goto("/features/image")
    states.check(page, "image-form", dark_shot=True)
    page.get_by_label("Describe the image").focus()
    page.keyboard.type(PROMPT)
    page.keyboard.press("Tab")
    assert active(page)["id"] == "size"
    page.keyboard.press("Tab")
    assert active(page)["id"] == "generate-button"
    page.keyboard.press("Enter")
    expect(page.locator("#result .job-status")).to_contain_text("Done")
    assert re.fullmatch(r"job-.+-status", active(page)["id"]), active(page)  # focus on what happened
    expect(badge).to_have_text("490 credits")
    expect(other_badge).to_have_text("490 credits", timeout=2_000)  # the other tab, no reload
    assert other.evaluate("window.notReloaded") is True
    states.check(page, "image-generated")
    page.locator("#result figcaption").get_by_role("link", name="this page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your image")
    states.check(page, "job-page")
    page.goto("/features/image")

    # Back/Forward: a spend made elsewhere while this tab was on another page.
    page.get_by_role("link", name="History").click()
    expect(badge).to_have_text("490 credits")
    journey.drain(1, 256)
    page.go_back()
    page.wait_for_url(re.compile(r"/features/image$"))
    expect(badge).to_have_text("485 credits")
    page.go_forward()
    page.wait_for_url(re.compile(r"/history$"))
    expect(badge).to_have_text("485 credits")
    expect(other_badge).to_have_text("485 credits", timeout=2_000)

    # A tab coming back into focus asks again.
    journey.drain(1, 256)
    other.evaluate("window.dispatchEvent(new Event('focus'))")
    expect(other_badge).to_have_text("480 credits", timeout=2_000)

    # Load more by keyboard: focus goes to the first new row.
    journey.drain(48, 512)  # 480 - 48 × 10 = 0
    page.goto("/history")
    expect(badge).to_have_text("0 credits · low")
    rows = page.locator("#ledger-rows tr.entry")
    expect(rows).to_have_count(50)
    states.check(page, "history-long", docs=False)  # 50 rows: too tall for the README
    page.get_by_role("button", name="Load more").focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(52)
    expect(rows.nth(50)).to_be_focused()
    assert active(page)["row"] == 50, active(page)

    # Low: Generate is disabled and says why; negative after a clawback.
    page.goto("/features/image")
    expect(page.locator("#generate-button")).to_be_disabled()
    expect(page.locator("#generate-blocked")).to_have_text("You need 10 credits for this size and have 0.")
    states.check(page, "generate-disabled-low", dark_shot=True)
    # Negative: 20 credits bought and spent, then the payment refunded (a clawback).
    purchase_id = buy(ledger.user_id_for_email("tabs@example.com"), 20)
    journey.drain(2, 512)
    ledger.claw_back_refund(purchase_id, 20, "re_browser_test")
    page.evaluate("window.dispatchEvent(new Event('focus'))")
    expect(badge).to_have_text("-20 credits · negative")
    expect(badge).to_have_class(re.compile(r"badge-negative"))
    expect(other_badge).to_have_text("-20 credits · negative", timeout=2_000)
    page.set_viewport_size(PHONE)
    page.goto("/features/image")
    assert fits(page)
    states.check(page, "image-negative-phone")

    assert states.problems == [], "\n".join(states.problems)
    assert journey.problems == [], journey.problems


def test_checkouts_settle_live_both_ways_and_history_tells_them_apart(live_server, emulator, browser_page):
    page, states = browser_page, States("checkout")
    journey = Journey(page, ARTIFACTS, live_server)
    journey.sign_in("receipts@example.com", "Receipt Person")
    badge = page.locator("#credit-badge")
    heading = page.locator("#receipt-heading")

    def start(pack: int) -> str:
        page.goto("/buy-credits")
        page.get_by_role("button", name=re.compile(rf"^Buy {pack} credits")).click()
        page.wait_for_url(re.compile(r"/c/pay/cs_"))
        return page.url.rsplit("/", 1)[1]

    page.goto("/buy-credits")
    states.check(page, "pricing-signed-in")

    start(100)  # cancelled on Stripe's page
    states.check(page, "stripe-checkout", dark_shot=True)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout cancelled")
    states.check(page, "checkout-cancelled")

    start(100)  # declined
    page.get_by_role("button", name="Decline").click()
    expect(page.get_by_role("alert")).to_contain_text("declined")
    states.check(page, "stripe-checkout-declined")

    session_id = start(500)  # a delayed method that settles
    page.get_by_role("button", name="Pay with a delayed method").click()
    expect(heading).to_have_text("Payment processing")
    expect(page.locator("#receipt")).to_contain_text("up to 4 business days")
    page.evaluate("window.notReloaded = true")
    states.check(page, "receipt-processing", dark_shot=True)
    emulator.settle(session_id, "succeeded")
    expect(heading).to_have_text("Payment received", timeout=20_000)
    expect(badge).to_have_text("1,000 credits")
    expect(page.locator(".receipt-balance")).to_have_text("1,000 credits")
    receipt = page.get_by_role("link", name="Stripe receipt")
    expect(receipt).to_have_attribute("href", re.compile(r"/c/receipts/ch_"))
    assert page.evaluate("window.notReloaded") is True
    states.check(page, "receipt-paid", dark_shot=True)
    page.goto(f"{emulator.base_url}/c/pay/{session_id}")
    expect(page.get_by_role("link", name="Back to creditapp")).to_be_visible()  # a finished session
    states.check(page, "stripe-checkout-complete")

    session_id = start(1000)  # a delayed method that fails
    page.get_by_role("button", name="Pay with a delayed method").click()
    expect(heading).to_have_text("Payment processing")
    page.evaluate("window.notReloaded = true")
    emulator.settle(session_id, "failed")
    expect(heading).to_have_text("Payment failed", timeout=20_000)
    expect(page.locator("main")).not_to_contain_text("Thank you")
    assert "Thank you" not in page.title()
    assert page.evaluate("window.notReloaded") is True
    states.check(page, "receipt-failed")

    page.get_by_role("link", name="Back to the home page").click()
    page.get_by_role("link", name="History").first.click()
    purchases = page.locator("#ledger-rows tr.entry-purchase")
    expect(purchases).to_have_count(1)  # cancelled, declined and failed checkouts hidden
    expect(purchases.first).to_contain_text("Bought 500 credits")
    expect(purchases.first).to_contain_text("$20.00")
    expect(purchases.first.get_by_role("link", name=re.compile("^Receipt"))).to_be_visible()
    expect(page.locator("#spend-chart .summary-bought")).to_contain_text("500 credits")
    states.check(page, "history", dark_shot=True)
    page.get_by_role("link", name="Show cancelled, declined and expired checkouts").click()
    expect(purchases).to_have_count(4)
    states.check(page, "history-all-checkouts")
    page.goto("/history/usage")  # the usage page the no-JS link opens
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage")
    states.check(page, "usage-page")
    page.go_back()

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    with open(download.value.path(), newline="", encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert [(r["kind"], r["status"], r["credits"]) for r in lines] == [
        ("purchase", "failed", "0"),
        ("purchase", "completed", "500"),
        ("purchase", "not_completed", "0"),  # declined: nothing charged, not "pending"
        ("purchase", "not_completed", "0"),  # cancelled
        ("adjustment", "signup_bonus", "500"),
    ]
    assert lines[1]["balance_after"] == "1000" and lines[1]["amount"] == "20.00"

    page.set_viewport_size(PHONE)
    page.goto("/history")
    assert fits(page), "history must fit a phone"
    states.check(page, "history-phone", dark_shot=True)
    page.goto(f"/checkout/success?session_id={session_id}")
    assert fits(page)
    states.check(page, "receipt-failed-phone")

    assert states.problems == [], "\n".join(states.problems)
    assert journey.problems == [], journey.problems


def test_without_javascript_history_reads_in_utc_and_the_chart_link_opens_a_whole_page(
    chromium, live_server, emulator, job_worker
):
    context = chromium.new_context(java_script_enabled=False, base_url=live_server, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/")
        page.get_by_role("link", name="Sign in with Google").first.click()
        page.get_by_role("textbox", name="Email").fill("nojs@example.com")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.goto("/history")
        utc = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")
        expect(page.locator("#ledger-rows time").first).to_have_text(utc)
        expect(page.get_by_role("columnheader", name="When (UTC)")).to_be_visible()
        page.get_by_role("link", name="See the usage figures and the 30-day chart").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Usage")
        expect(page.locator("svg.spend-chart")).to_be_visible()
        expect(page.locator("#credit-badge")).to_have_text("500 credits")  # the whole page, header and all
        # axe itself is a script: with scripts off it cannot run, so this state is photographed only.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "usage-no-js.png"), full_page=True)
    finally:
        context.close()
