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
from tests.support import stripe_helpers
from tests.support.lifecycle import bought, clawback_adds_up

pytestmark = pytest.mark.browser
stripe_env = stripe_helpers.stripe_env  # the fixture

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


def test_staff_refund_and_void_in_chromium_act_once_and_the_customer_reads_adjusted_by_support(
    app, live_server, stripe_env, browser_page, make_user, sign_in_as
):
    page, states = browser_page, States("admin-actions")
    customer, session_id = bought(stripe_env, app.test_client(), make_user, sign_in_as)  # 500 + 500 bought
    purchase = stripe_helpers.purchase(session_id)
    journey = Journey(page, None, live_server)
    journey.sign_in("support@example.com", "Sam Support")
    members.set_staff("support@example.com", True)
    page.set_viewport_size(PHONE)

    # Refund all of the purchase, confirming twice: Stripe refunds once, the webhook claws back once.
    page.goto(f"/admin/customers/{customer}")
    refund = page.locator(f"#refund-{purchase.id}")
    refund.get_by_label("Reason (required)").fill("Bought by mistake")
    refund.get_by_role("button", name="Refund…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Confirm: Refund $20.00")
    page.get_by_role("button", name="Confirm: refund a purchase").dblclick()
    expect(page.locator(".staff-outcome")).to_contain_text("Stripe refund re_")
    stripe_helpers.wait_for_credits(customer, 500)
    assert len(stripe_helpers.charge_refunds(stripe_helpers.charge_id(session_id))) == 1
    assert clawback_adds_up(session_id)

    # Void the signup bonus lot: its credits leave the balance at once.
    [bonus] = [lot for lot in ledger.lots_of(customer) if lot.source == "signup_bonus"]
    page.goto(f"/admin/customers/{customer}")
    void = page.locator(f"#void-{bonus.id}")
    void.get_by_label("Reason (required)").fill("Second account")
    void.get_by_role("button", name="Void…").click()
    page.get_by_role("button", name="Confirm: void a lot").dblclick()
    expect(page.locator(".staff-outcome")).to_contain_text(f"Voided lot {bonus.id}")
    assert ledger.balance(customer).credits == 0
    assert ledger.audit() == []

    # The customer's own History, in the browser: no staff name, the reason.
    signed_in = sign_in_as(app.test_client(), customer)
    signed_in.get("/account")
    theirs = page.context.browser.new_context(base_url=live_server)
    theirs.add_cookies(
        [{"name": "session", "value": signed_in.get_cookie("session").value, "url": live_server}]
    )
    history = theirs.new_page()
    history.goto("/history")
    expect(history.get_by_text("Adjusted by support: Second account", exact=False)).to_be_visible()
    assert "Sam Support" not in history.content()
    theirs.close()

    page.goto("/admin/audit")
    expect(page.locator("tbody tr")).to_have_count(2)
    states.check(page, "admin-audit-after-actions", docs=False)
    assert states.problems == [], "\n".join(states.problems)
