"""The API-keys and History tables on a 390 px phone, realistic rows: the page never scrolls sideways."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from creditapp import ledger
from creditapp.accounts import api_keys
from tests.accounts.conftest import bearer
from tests.browser.pages import States
from tests.history.test_history import buy

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PROMPT = "a lighthouse on a cliff at dusk, watercolour, gulls over a rough grey sea, long exposure"


def overflow(page: Page) -> dict:
    """How far the page is wider than the phone, and each table's own scroll (allowed)."""
    return page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth - window.innerWidth,
            tables: [...document.querySelectorAll("table")].map(t => {
                const wrap = t.closest(".table-wrap");
                const scrolls = Boolean(wrap) && wrap.clientWidth <= window.innerWidth
                    && getComputedStyle(wrap).overflowX === "auto";
                return {fitsOrScrolls: scrolls || t.scrollWidth <= window.innerWidth};
            }),
        })"""
    )


def test_api_keys_and_history_fit_a_390px_phone_with_realistic_rows(
    app, chromium, live_server, emulator, job_worker, make_user, sign_in_as
):
    user_id = make_user(email="phone.tables@example.com", credits=2000)
    tokens = [
        api_keys.create_key(user_id, name, scopes, limit).token
        for name, scopes, limit in (
            ("Nightly export for the marketing dashboard", ["spend", "read"], 25_000),
            ("staging-worker-eu-west-1-batch-renderer", ["spend"], None),
            ("Zapier", ["read"], 1_000),
        )
    ]
    for size in (1024, 512):
        answer = requests.post(
            f"{live_server}/api/features/image",
            json={"prompt": PROMPT, "size": size},
            headers=bearer(tokens[0]),
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
    purchase_id = buy(user_id, 10_000)
    buy(user_id, 1_000, complete=False)  # a checkout left on Stripe's page
    ledger.claw_back_refund(purchase_id, 2_500, "re_phone_tables")
    ledger.grant(user_id, 125, note="goodwill credit for the outage on the 3rd, ticket #48213")

    client = sign_in_as(app.test_client(), user_id)
    client.get("/account")
    context = chromium.new_context(viewport=PHONE, base_url=live_server)
    context.add_cookies(
        [
            {
                "name": "session",
                "value": client.get_cookie("session").value,
                "domain": urlsplit(live_server).hostname,
                "path": "/",
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    states = States("phone")
    try:
        page.goto("/account/api-keys")
        expect(page.locator("table.api-keys tbody tr")).to_have_count(3)
        keys = overflow(page)
        states.check(page, "api-keys-phone")

        page.goto("/history?all=1")
        expect(page.locator("#ledger-rows tr.entry")).to_have_count(8)
        expect(page.locator("#spend-chart svg")).to_be_visible()  # the chart's figures are in too
        history = overflow(page)
        states.check(page, "history-realistic-phone", docs=False)
    finally:
        context.close()

    assert keys["page"] <= 0, f"the API keys page is {keys['page']} px wider than a 390 px phone"
    assert history["page"] <= 0, f"History is {history['page']} px wider than a 390 px phone"
    assert all(t["fitsOrScrolls"] for t in keys["tables"] + history["tables"])
    assert states.problems == [], "\n".join(states.problems)
