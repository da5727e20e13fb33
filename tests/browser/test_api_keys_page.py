"""The API keys page in Chromium: the new key is shown once and the Copy button copies it."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from tests.accounts.conftest import bearer


def test_the_copy_button_copies_the_new_key_and_the_key_works(
    chromium, live_server, app, make_user, sign_in_as
):
    api = live_server
    user = make_user()
    client = sign_in_as(app.test_client(), user)
    client.get("/account")
    context = chromium.new_context(base_url=api)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=api)
    host = urlsplit(api).hostname
    context.add_cookies(
        [{"name": "session", "value": client.get_cookie("session").value, "domain": host, "path": "/"}]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    try:
        page.goto("/account")
        page.get_by_role("link", name="manage API keys").click()
        page.get_by_label("Name").fill("from the browser")
        page.get_by_label("read — the balance and every job").uncheck()
        page.get_by_role("button", name="Create key").click()
        shown = page.get_by_label("API key").input_value()
        assert shown.startswith("ca_test_")
        page.get_by_role("button", name="Copy key").click()
        page.get_by_text("Copied.").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == shown
        assert "spend" in page.locator("table.api-keys").inner_text()
        page.reload()  # a reload shows the list, neither the key again nor a second key
        page.get_by_role("heading", name="Your keys").wait_for()
        assert page.get_by_label("API key").count() == 0  # shown once only
        assert page.locator("table.api-keys tbody tr").count() == 1
    finally:
        context.close()
    assert problems == []  # no script error, no CSP refusal
    answer = requests.get(f"{api}/api/user/credits", headers=bearer(shown), timeout=10)
    assert answer.status_code == 403  # a spend-only key: made as chosen
