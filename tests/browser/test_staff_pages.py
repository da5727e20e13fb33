"""The staff console in Chromium: search, a customer, an action confirmed twice, operations, the trail.

Every state is checked by axe-core in light and dark at 390 px wide (a phone).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import StripeEvent
from creditapp.staff import members
from tests.browser.pages import States
from tests.browser.test_journey import Journey

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_staff_find_a_customer_grant_once_and_see_the_trail_at_390px(
    app, live_server, emulator, browser_page, make_user
):
    page, states = browser_page, States("admin")
    customer = make_user("casey@example.com", name="Casey Customer")
    db.session.add(
        StripeEvent(
            id="evt_failed_1",
            type="checkout.session.completed",
            created=0,
            status="failed",
            error="RuntimeError: a bug since fixed",
            payload={"id": "evt_failed_1"},
        )
    )
    db.session.commit()
    journey = Journey(page, None, live_server)
    journey.sign_in("support@example.com", "Sam Support")
    members.set_staff("support@example.com", True)
    page.set_viewport_size(PHONE)

    page.goto("/admin/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Find a customer")
    page.get_by_label(re.compile("E-mail, name, user id")).fill("casey")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="casey@example.com")).to_be_visible()
    assert fits(page)
    states.check(page, "admin-search")

    page.get_by_role("link", name="casey@example.com").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Casey Customer")
    assert fits(page), "the customer page must fit a phone"
    states.check(page, "admin-customer")

    grant = page.locator("#grant")
    grant.get_by_label("Credits").fill("120")
    grant.get_by_label("Reason (required)").fill("Sorry for the outage")
    grant.get_by_role("button", name="Grant credits…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Confirm: Grant 120 promotional credits")
    states.check(page, "admin-confirm", docs=False)
    confirm = page.get_by_role("button", name="Confirm: grant credits")
    confirm.dblclick()  # a double submit acts once
    expect(page.locator(".staff-outcome")).to_contain_text("Granted 120 credits")
    states.check(page, "admin-done", docs=False)
    assert ledger.balance(customer).credits == 620

    page.goto("/admin/operations")
    expect(page.get_by_text("evt_failed_1")).to_be_visible()
    page.get_by_role("link", name="Run the audit").click()
    expect(page.locator(".staff-outcome")).to_contain_text("The audit is clean")
    assert fits(page)
    states.check(page, "admin-operations")

    page.goto("/admin/audit")
    expect(page.get_by_role("cell", name="Sorry for the outage")).to_have_count(1)
    states.check(page, "admin-audit", docs=False)

    assert states.problems == [], "\n".join(states.problems)
