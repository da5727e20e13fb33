"""Signing out ends the sign-in on the server: copied cookies stop working, on one device or all."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from creditapp.extensions import db
from tests.support.db import count_statements
from tests.support.oidc import sign_in

COOKIES = ("session", "remember_token")


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def signed_in(client: FlaskClient) -> bool:
    return client.get("/api/user/credits").status_code == 200


def copied(client: FlaskClient) -> dict[str, str]:
    """The session and remember-me cookies, as someone copying them off the machine would have them."""
    return {name: client.get_cookie(name).value for name in COOKIES}


def browser_with(app, **cookies: str) -> FlaskClient:
    """A new browser carrying only the given cookies."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def test_cookies_copied_before_logout_sign_no_one_in_afterwards(app, client, emulator):
    sign_in(client, emulator, "ada@example.com")
    stolen = copied(client)
    assert signed_in(browser_with(app, session=stolen["session"]))
    assert signed_in(browser_with(app, remember_token=stolen["remember_token"]))

    assert client.post("/logout", data={"csrf_token": csrf_token(client)}).status_code == 303

    assert not signed_in(browser_with(app, session=stolen["session"]))
    assert not signed_in(browser_with(app, remember_token=stolen["remember_token"]))
    assert not signed_in(browser_with(app, **stolen))


def test_logout_in_one_browser_leaves_the_other_signed_in(app, client, emulator):
    laptop, phone = client, app.test_client()
    sign_in(laptop, emulator, "ada@example.com")
    sign_in(phone, emulator, "ada@example.com")

    laptop.post("/logout", data={"csrf_token": csrf_token(laptop)})

    assert not signed_in(laptop)
    assert signed_in(phone)
    assert signed_in(browser_with(app, remember_token=phone.get_cookie("remember_token").value))


def test_sign_out_of_all_devices_ends_another_browsers_session_and_remember_cookie(app, client, emulator):
    laptop, phone = client, app.test_client()
    sign_in(laptop, emulator, "ada@example.com")
    sign_in(phone, emulator, "ada@example.com")
    phone_cookies = copied(phone)

    page = laptop.get("/account").get_data(as_text=True)
    assert "Sign out of all devices" in page
    response = laptop.post("/account/sign-out-everywhere", data={"csrf_token": csrf_token(laptop)})

    assert response.status_code == 303
    assert not signed_in(laptop)
    assert not signed_in(phone)
    assert not signed_in(browser_with(app, remember_token=phone_cookies["remember_token"]))
    # Signing in again afterwards works as before.
    sign_in(phone, emulator, "ada@example.com")
    assert signed_in(phone)


def test_sign_out_of_all_devices_needs_the_csrf_token(app, client, emulator):
    sign_in(client, emulator, "ada@example.com")

    assert client.post("/account/sign-out-everywhere").status_code == 400
    assert signed_in(client)


def test_checking_the_sign_in_adds_no_statement(app, client, emulator):
    sign_in(client, emulator, "ada@example.com")
    with count_statements(db.engine) as seen:
        assert client.get("/credits/badge").status_code == 200
    assert seen.count == 1
