"""The console is rate-limited per staff member, and every request to it is logged with the actor."""

from __future__ import annotations

import logging

import pytest

from creditapp import create_app
from creditapp.extensions import db, limiter
from tests.conftest import app_settings


@pytest.fixture
def limited_app(app, database_url):
    """An app like the suite's with rate limits on: three console requests a minute."""
    limited = create_app(
        app_settings(
            database_url,
            "http://127.0.0.1:9",
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI="memory://",
            RATELIMIT_STAFF="3/minute",
        )
    )
    limiter.reset()
    yield limited
    with limited.app_context():
        db.engine.dispose()


def test_a_staff_member_past_the_console_budget_gets_429(limited_app, staff):
    client = limited_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(staff)
    statuses = [client.get("/admin/audit").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_every_console_request_is_logged_with_the_actor(staff_client, staff, caplog):
    with caplog.at_level(logging.INFO, logger="creditapp.staff"):
        staff_client.get("/admin/", query_string={"q": "someone"})

    [line] = [record for record in caplog.records if record.getMessage() == "staff request"]
    assert line.actor_user_id == staff and line.path == "/admin/" and line.method == "GET"
