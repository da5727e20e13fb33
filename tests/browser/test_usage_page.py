"""The Usage page in Chromium: each grouping axe-clean in light and dark, the picker swapping the
results in place (URL pushed, focus kept, a status line said) and working without JavaScript."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from creditapp.models import utcnow
from tests.browser.pages import States
from tests.browser.test_credits_page import PHONE, fits, signed_in
from tests.history.test_usage_api import OTHER_FEATURE, at, new_key, spend

pytestmark = pytest.mark.browser


def a_month_of_spending(make_user) -> int:
    """Spends on two features, through two keys and in the browser, over the last 30 days."""
    user_id = make_user(email="usage@example.com", credits=20_000, name="Ada Lovelace")
    nightly = new_key(user_id, name="Nightly export for the marketing dashboard")
    laptop = new_key(user_id, name="Laptop")
    today = utcnow().date()
    for days_ago, cost, key in (
        (1, 20, nightly),
        (3, 10, nightly),
        (3, 5, laptop),
        (12, 20, None),
        (27, 1_024, None),
    ):
        spend(user_id, cost, at=at(today - timedelta(days=days_ago)), key=key)
    spend(user_id, 3, OTHER_FEATURE, at=at(today - timedelta(days=8)), key=laptop)
    spend(user_id, 40, settle="released")  # a failed job: not spent
    return user_id


def test_each_grouping_is_axe_clean_and_the_picker_swaps_the_results_in_place(
    app, live_server, browser_page, make_user, sign_in_as
):
    page, states = browser_page, States("usage")
    signed_in(page.context, app, sign_in_as, a_month_of_spending(make_user), live_server)

    page.goto("/history")
    page.get_by_role("link", name="Usage by feature, API key and day, over any range").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage")
    results = page.locator("#usage-results")
    expect(results.get_by_role("heading", level=2)).to_contain_text("Credits spent by day")
    expect(results.locator(".usage-table tfoot")).to_contain_text("1,082")
    expect(results.locator("svg.spend-chart rect.chart-bar")).to_have_count(30)
    states.check(page, "usage-by-day", dark_shot=True)

    page.evaluate("window.notReloaded = true")
    page.get_by_label("Group by").select_option("feature")
    show = page.get_by_role("button", name="Show")
    show.click()
    expect(results.get_by_role("heading", level=2)).to_contain_text("Credits spent by feature")
    expect(results.locator(".usage-row")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"/history/usage\?.*group_by=feature"))
    expect(page.locator("#usage-status")).to_contain_text("Showing 1,082 credits spent by feature")
    assert page.evaluate("window.notReloaded") is True, "htmx swaps the results; the page stays"
    assert page.evaluate("document.activeElement.textContent.trim()") == "Show", "focus stays on the button"
    states.check(page, "usage-by-feature")

    page.get_by_label("Group by").select_option("key")
    show.click()
    rows = results.locator(".usage-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Browser")
    expect(rows.nth(1)).to_contain_text("Nightly export for the marketing dashboard (ca_test_")
    states.check(page, "usage-by-key", dark_shot=True)
    page.set_viewport_size(PHONE)
    assert fits(page), "the Usage page must fit a phone"
    states.check(page, "usage-by-key-phone", docs=False)
    page.set_viewport_size({"width": 1100, "height": 900})

    page.get_by_label("From", exact=True).fill("2025-03-09")
    page.get_by_label("To", exact=True).fill("2025-03-01")
    show.click()
    expect(results.get_by_role("alert")).to_contain_text("The first day must be on or before the last day.")
    states.check(page, "usage-bad-range")

    page.go_back()  # the URL htmx pushed for the grouping by key
    expect(page.get_by_role("heading", level=2, name=re.compile("Credits spent by feature"))).to_be_visible()

    assert states.problems == [], "\n".join(states.problems)


def test_without_javascript_the_picker_opens_the_page_for_the_range(
    app, chromium, live_server, make_user, sign_in_as
):
    context = chromium.new_context(java_script_enabled=False, base_url=live_server)
    context.set_default_timeout(15_000)
    signed_in(context, app, sign_in_as, a_month_of_spending(make_user), live_server)
    page = context.new_page()
    try:
        page.goto("/history")
        page.get_by_role("link", name="See the usage figures and the 30-day chart").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Usage")
        today = utcnow().date()
        page.get_by_label("From", exact=True).fill((today - timedelta(days=9)).isoformat())
        page.get_by_label("Group by").select_option("key")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"/history/usage\?from=.*&group_by=key"))
        rows = page.locator(".usage-row")
        expect(rows).to_have_count(2)  # the spends of the last 10 days: two keys
        expect(page.get_by_label("Group by")).to_have_value("key")
        expect(page.locator("#credit-badge")).to_be_visible()  # the whole page, header and all
    finally:
        context.close()
