"""Fixtures for the staff console: a staff member's signed-in client, a customer, forms with CSRF."""

from __future__ import annotations

import re

import pytest

from creditapp.staff import members

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')


def csrf_token(client) -> str:
    """The CSRF token of the client's session, read from a page."""
    page = client.get("/").get_data(as_text=True)
    return CSRF_META.search(page).group(1)


@pytest.fixture
def staff(app, make_user):
    """A staff member's user id (made staff as `flask staff add` does)."""
    user_id = make_user("support@example.com", name="Sam Support")
    members.set_staff("support@example.com", True)
    return user_id


@pytest.fixture
def staff_client(app, staff, sign_in_as):
    """A test client signed in as the staff member."""
    return sign_in_as(app.test_client(), staff)


@pytest.fixture
def customer(make_user):
    """A customer with 500 credits (the signup bonus lot)."""
    return make_user("casey@example.com", credits=500, name="Casey Customer")


@pytest.fixture
def act(staff_client):
    """Run an action through the console: the first POST, then the confirmation; returns both answers."""

    def run(user_id: int, name: str, confirm_twice: bool = False, **form):
        token = csrf_token(staff_client)
        first = staff_client.post(
            f"/admin/customers/{user_id}/actions/{name}", data={"csrf_token": token, **form}
        )
        if first.status_code != 200 or "Confirm:" not in first.get_data(as_text=True):
            return first, None
        confirm = {"csrf_token": token, "token": TOKEN.search(first.get_data(as_text=True)).group(1), **form}
        second = staff_client.post(f"/admin/customers/{user_id}/actions/{name}", data=confirm)
        if confirm_twice:
            second = staff_client.post(f"/admin/customers/{user_id}/actions/{name}", data=confirm)
        return first, second

    return run
