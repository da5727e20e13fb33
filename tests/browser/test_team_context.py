"""Two tabs in two contexts in Chromium: one person with a personal wallet and two
organizations spends from each through the QR code page, each tab in its own context; every
spend lands in the wallet its tab chose, never the other's. An organization's members page
and its History (every member's spends) pass axe in light and dark, and are photographed
with the switcher in the header (docs/screenshots/team-*.png)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from creditapp import ledger, teams
from creditapp.accounts import api_keys
from creditapp.extensions import db
from creditapp.ledger import job_holds
from creditapp.models import ApiKey, CreditSpend, User, utcnow
from tests.browser.pages import States
from tests.browser.test_credits_page import signed_in

pytestmark = pytest.mark.browser


def captured_spend(user_id: int, wallet_id: int, cost: int, text: str, key_id: int | None = None) -> None:
    """A QR code a teammate made from the organization's wallet (setup: their spends to show)."""
    held = job_holds.hold_for_job(
        user_id,
        "qr",
        cost,
        {"text": text, "scale": 4},
        utcnow() + timedelta(minutes=5),
        wallet_id=wallet_id,
        api_key_id=key_id,
    )
    ledger.capture(held.spend.spend_id)


@pytest.fixture
def two_organizations(make_user):
    """Pat owns Acme (50 credits left after two teammates spent 48) and Globex (70 credits)."""
    pat = make_user("pat@example.com", credits=100, name="Pat Jones")
    acme = teams.create_organization(pat, "Acme Robotics")
    globex = teams.create_organization(pat, "Globex")
    wallets = {}
    for org_id, credits in ((acme, 98), (globex, 70)):
        wallets[org_id] = teams.organization_for(org_id, pat).wallet_id
        ledger.grant(pat, credits, note="Opening budget", wallet_id=wallets[org_id])
    for email, name, role in (
        ("ana@example.com", "Ana Lima", "admin"),
        ("bo@example.com", "Bo Chen", "member"),
    ):
        teammate = make_user(email, name=name)
        _, token = teams.invite(acme, pat, email, role)
        teams.accept(token, teammate)
        if role == "admin":
            key = api_keys.create_key(teammate, "CI pipeline", ["read", "spend"], None)
            db.session.execute(sa.update(ApiKey).where(ApiKey.id == key.id).values(wallet_id=wallets[acme]))
            db.session.commit()
            captured_spend(teammate, wallets[acme], 12, "https://acme.example/build/42", key_id=key.id)
        captured_spend(teammate, wallets[acme], 18, f"Badge for {name}")
    return pat, acme, globex, wallets


def spend_a_qr_code(page: Page, text: str) -> None:
    page.get_by_label("Text").fill(text)
    page.get_by_role("button", name="Make QR code").click()
    expect(page.locator("#result .job-status")).to_contain_text("Done")


def switch_to(page: Page, name: str) -> None:
    """Choose a context in the header's "Spend from" switcher."""
    page.get_by_label("Spend from").select_option(label=name)
    page.get_by_role("button", name="Switch").click()


def wallets_spent_from(user_id: int) -> list[int]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(CreditSpend.wallet_id)
                .where(CreditSpend.user_id == user_id)
                .order_by(CreditSpend.id)
            ).scalars()
        )


def test_two_tabs_in_two_contexts_spend_each_from_its_own_wallet(
    app, live_server, browser_page, two_organizations, sign_in_as
):
    pat, acme, globex, wallets = two_organizations
    states = States("team")
    signed_in(browser_page.context, app, sign_in_as, pat, live_server)
    first, second = browser_page, browser_page.context.new_page()

    first.goto("/features/qr")
    switch_to(first, "Acme Robotics")
    expect(first.locator(".context-note")).to_have_text("Spending from Acme Robotics's credits.")
    expect(first.locator("#credit-badge")).to_have_text("50 credits")
    second.goto("/features/qr")
    switch_to(second, "Globex")
    expect(second.locator("#credit-badge")).to_have_text("70 credits")

    # The second tab spends first, then the first: each from the wallet its own page chose.
    spend_a_qr_code(second, "globex order 1")
    spend_a_qr_code(first, "acme order 1")
    expect(first.locator("#credit-badge")).to_have_text("49 credits")
    expect(second.locator("#credit-badge")).to_have_text("69 credits")

    switch_to(second, "Personal")
    expect(second.locator("#credit-badge")).to_have_text("100 credits")
    spend_a_qr_code(second, "personal order 1")
    spend_a_qr_code(first, "acme order 2")
    expect(second.locator("#credit-badge")).to_have_text("99 credits")
    expect(first.locator("#credit-badge")).to_have_text("48 credits")

    assert wallets_spent_from(pat) == [wallets[globex], wallets[acme], personal(pat), wallets[acme]]
    assert teams.organization_for(acme, pat).credits == 48
    assert teams.organization_for(globex, pat).credits == 69
    assert ledger.balance(pat).credits == 99
    assert ledger.audit() == []

    # The first tab's nav keeps its context: History is Acme's, with every member's spends.
    first.get_by_role("link", name="History", exact=True).click()
    expect(first.get_by_role("heading", level=1)).to_have_text("Acme Robotics's history")
    rows = first.locator("#ledger-rows tr.entry-spend")
    expect(rows).to_have_count(5)
    expect(first.locator("#ledger-rows")).to_contain_text("by Ana Lima <ana@example.com>")
    expect(first.locator("#ledger-rows")).to_contain_text("with API key CI pipeline")
    expect(first.locator("#ledger-rows")).to_contain_text("by Bo Chen <bo@example.com> in the browser")
    expect(first.locator("#ledger-rows")).not_to_contain_text("personal order")
    expect(first.locator("#ledger-rows")).not_to_contain_text("globex order")
    expect(first.locator("#spend-chart .summary-spent")).to_have_text("50 credits")
    expect(first.get_by_label("Spend from")).to_have_value(str(acme))
    states.check(first, "team-history", dark_shot=True)

    first.goto(f"/orgs/{acme}/members")
    expect(first.get_by_role("heading", level=1)).to_contain_text("Acme Robotics")
    states.check(first, "team-members")

    # The switcher in the header, on a feature page, in an organization's context.
    first.goto(f"/features/qr?org={acme}")
    first.get_by_label("Spend from").focus()
    states.check(first, "team-switcher")

    assert states.problems == [], "\n".join(states.problems)


def personal(user_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(User.wallet_id).where(User.id == user_id)).scalar_one()
