"""The console is staff-only: every /admin/ route is a 404 to anyone else, CSRF-checked, never cached."""

from __future__ import annotations

import pytest

from tests.staff.conftest import csrf_token


def admin_urls(app) -> list[tuple[str, str]]:
    """(method, url) for every rule under /admin/, with placeholder arguments."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "grant")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_the_console_has_routes(app):
    urls = admin_urls(app)
    assert ("GET", "/admin/") in urls
    assert any(method == "POST" for method, _ in urls)


@pytest.mark.smoke
@pytest.mark.parametrize("who", ["signed out", "customer", "api key"])
def test_every_admin_route_is_a_404_to_anyone_not_staff(app, make_user, sign_in_as, staff, who):
    client = app.test_client()
    headers = {}
    customer = make_user("someone@example.com")
    if who == "customer":
        sign_in_as(client, customer)
    if who == "api key":
        from creditapp.accounts import api_keys

        headers = {
            "Authorization": f"Bearer {api_keys.create_key(customer, 'k', ['spend', 'read'], None).token}"
        }
    token = csrf_token(client)
    for method, url in admin_urls(app) + [("GET", "/admin"), ("GET", "/admin/no-such-page")]:
        data = {"csrf_token": token, "reason": "x", "amount": "5"} if method == "POST" else None
        response = client.open(url, method=method, data=data, headers=headers)
        assert response.status_code == 404, (who, method, url, response.status_code)
        response = client.open(url, method=method, headers=headers)  # no CSRF token either
        assert response.status_code == 404, (who, method, url, response.status_code)


def test_a_staff_api_key_does_not_reach_the_console(app, staff, staff_client):
    from creditapp.accounts import api_keys

    key = api_keys.create_key(staff, "staff key", ["spend", "read"], None).token
    response = app.test_client().get("/admin/", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404
    # Even alongside the staff member's own session cookie.
    assert staff_client.get("/admin/", headers={"Authorization": f"Bearer {key}"}).status_code == 404


def test_staff_see_the_console_and_it_is_never_cached(staff_client):
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Find a customer" in response.get_data(as_text=True)


def test_a_staff_post_without_csrf_is_refused(staff_client, customer):
    response = staff_client.post(
        f"/admin/customers/{customer}/actions/grant", data={"amount": "5", "reason": "x"}
    )
    assert response.status_code == 400


def test_staff_emails_setting_makes_staff(app, make_user, sign_in_as):
    user = make_user("boss@example.com")
    client = sign_in_as(app.test_client(), user)
    assert client.get("/admin/").status_code == 404
    app.config["STAFF_EMAILS"] = ["boss@example.com"]
    try:
        assert client.get("/admin/").status_code == 200
    finally:
        app.config["STAFF_EMAILS"] = []


def test_flask_staff_add_remove_list(app, runner, make_user):
    make_user("new.staff@example.com")
    result = runner.invoke(args=["staff", "add", "New.Staff@example.com"])
    assert result.exit_code == 0, result.output
    assert "new.staff@example.com" in runner.invoke(args=["staff", "list"]).output
    assert runner.invoke(args=["staff", "remove", "new.staff@example.com"]).exit_code == 0
    assert "new.staff@example.com" not in runner.invoke(args=["staff", "list"]).output
    assert runner.invoke(args=["staff", "add", "nobody@example.com"]).exit_code != 0


def test_the_404_reveals_nothing_it_is_the_same_as_for_a_page_that_does_not_exist(app, staff):
    client = app.test_client()
    unknown = client.get("/no-such-page")
    console = client.get("/admin/")

    assert console.status_code == unknown.status_code == 404
    assert console.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert console.headers.get("Cache-Control") == unknown.headers.get("Cache-Control")
