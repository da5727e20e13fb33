"""The Credits page in Chromium: every lot in words, axe-clean in light and dark, on a phone,
"N credits expire on DATE" beside the badge following a spend, and Load more with and without JS."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, Page, expect

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditLot, utcnow
from tests.browser.pages import ARTIFACTS, States
from tests.browser.test_journey import Journey
from tests.history.test_history import buy, spend

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def signed_in(context: BrowserContext, app, sign_in_as, user_id: int, live_server: str) -> None:
    """Give the browser a signed-in session cookie for the user (test setup, as the phone tests do)."""
    client = sign_in_as(app.test_client(), user_id)
    client.get("/account")
    host = urlsplit(live_server).hostname
    cookie = {"name": "session", "value": client.get_cookie("session").value, "domain": host, "path": "/"}
    context.add_cookies([cookie])


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def a_wallet_with_every_kind_of_lot(make_user) -> int:
    """Signup bonus partly spent, a purchase, an expired and a voided grant, and one ending in 5 days."""
    user_id = make_user(email="lots@example.com", name="Ada Lovelace")
    buy(user_id, 1_000)
    spend(user_id, 380)  # from the signup bonus, which ends before the purchase
    lapsed = ledger.grant(user_id, 100, note="Spring promotion", expires_at=utcnow() + timedelta(days=30))
    db.session.execute(
        sa.update(CreditLot)
        .where(CreditLot.id == lapsed.lot_id)
        .values(expires_at=utcnow() - timedelta(days=2))
    )
    db.session.commit()
    ledger.expire_lots()
    mistake = ledger.grant(user_id, 50, note="Duplicate goodwill credit", category="paid")
    ledger.void_lot(mistake.lot_id, "granted twice")
    ledger.grant(user_id, 200, note="Launch week bonus", expires_at=utcnow() + timedelta(days=5))
    return user_id


def test_the_credits_page_lists_every_lot_and_the_expiry_line_follows_a_spend(
    app, live_server, browser_page, make_user, sign_in_as
):
    page, states = browser_page, States("credits")
    journey = Journey(page, ARTIFACTS, live_server)
    signed_in(page.context, app, sign_in_as, a_wallet_with_every_kind_of_lot(make_user), live_server)

    page.goto("/account")
    page.get_by_role("link", name="Your credits").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Credits")
    rows = page.locator("#lot-rows tr.lot")
    expect(rows).to_have_count(5)
    expect(rows.locator(".lot-source")).to_have_text(
        [
            "Grant: Launch week bonus",
            "Grant: Duplicate goodwill credit",
            "Grant: Spring promotion",
            "Purchase",
            "Signup bonus",
        ]
    )
    expect(rows.locator(".lot-category")).to_have_text(
        ["Promotional", "Paid", "Promotional", "Paid", "Promotional"]
    )
    expect(rows.locator(".lot-remaining")).to_have_text(
        ["200 of 200", "0 of 50", "0 of 100", "1,000 of 1,000", "120 of 500"]
    )
    expect(rows.nth(1).locator(".lot-expiry")).to_have_text(re.compile(r"^Voided on "))
    expect(rows.nth(2).locator(".lot-expiry")).to_have_text(re.compile(r"^Expired on "))
    expect(page.locator(".wallet-summary")).to_contain_text("1,320 credits")
    line = page.locator("#credits-expiring")
    expect(line).to_have_text(re.compile(r"^200 credits expire on \w+ \d+, \d{4}$"))
    expect(page.locator("#expiring-words")).to_contain_text("200 credits expire on")
    states.check(page, "credits")
    page.set_viewport_size(PHONE)
    assert fits(page), "the Credits page must fit a phone"
    states.check(page, "credits-phone", docs=False)
    page.set_viewport_size({"width": 1100, "height": 900})

    # A spend draws from the lot that ends soonest: the line beside the badge follows it.
    journey.generate(512)
    expect(page.locator("#result .job-status")).to_contain_text("Done")
    expect(journey.badge).to_have_text("1,310 credits")
    expect(line).to_have_text(re.compile(r"^190 credits expire on \w"))

    assert states.problems == [], "\n".join(states.problems)
    assert journey.problems == [], journey.problems


def test_load_more_keeps_focus_and_works_without_javascript(
    app, chromium, live_server, browser_page, make_user, sign_in_as
):
    user_id = make_user(email="many.lots@example.com")
    for n in range(55):
        ledger.grant(user_id, n + 1, note=f"Referral {n + 1}")
    page = browser_page
    signed_in(page.context, app, sign_in_as, user_id, live_server)

    page.goto("/account/credits")
    rows = page.locator("#lot-rows tr.lot")
    expect(rows).to_have_count(50)
    page.get_by_role("button", name="Load more").focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(56)
    expect(rows.nth(50)).to_be_focused()
    expect(rows.last.locator(".lot-source")).to_have_text("Signup bonus")

    no_js = chromium.new_context(java_script_enabled=False, base_url=live_server)
    try:
        signed_in(no_js, app, sign_in_as, user_id, live_server)
        plain = no_js.new_page()
        plain.goto("/account/credits")
        plain.get_by_role("button", name="Load more").click()
        plain.wait_for_url(re.compile(r"/account/credits\?before=\d+$"))
        expect(plain.locator("#lot-rows tr.lot")).to_have_count(6)
        expect(plain.get_by_role("link", name="Back to the newest lots")).to_be_visible()
    finally:
        no_js.close()
