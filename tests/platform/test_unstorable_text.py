"""A NUL character or a lone surrogate anywhere in a request is a 422 on every database, writing nothing.

PostgreSQL cannot store either (it answered 500); SQLite stored them. Forms cannot carry a lone
surrogate (the browser sends UTF-8, and Werkzeug decodes invalid bytes as U+FFFD), so forms are
tried with NUL and JSON bodies with both.
"""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa

from creditapp.accounts import api_keys
from creditapp.extensions import db
from creditapp.models import ApiKey, AutoRechargeSettings, CreditPurchase, CreditSpend, FeatureJob, User
from tests.accounts.conftest import bearer
from tests.support.spending import API, balance, csrf_token

NUL, SURROGATE = "\x00", "\ud800"
BAD = "a fox\x00 at dusk"

# Every form that writes, each with a body it would accept; every field is tried in turn.
FORMS = {
    "/features/image": {"prompt": "a fox", "size": "256", "form_key": "k" * 24},
    "/account/api-keys": {"name": "laptop", "scopes": "spend", "monthly_credit_limit": "100"},
    "/account/auto-recharge": {"threshold": "50", "monthly_cap": "3", "price_id": "price_x", "enabled": "1"},
    "/account/notifications": {"alert": "1", "level": "100"},
    "/billing/checkout": {"price_id": "price_x"},
}
CASES = [(path, field) for path, form in FORMS.items() for field in form]


def _written() -> dict[str, object]:
    """What any of these forms or bodies could write."""
    db.session.expire_all()
    count = {
        model.__tablename__: db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
        for model in (CreditSpend, FeatureJob, ApiKey, AutoRechargeSettings, CreditPurchase)
    }
    count["alert levels"] = db.session.execute(sa.select(User.low_balance_alert_level)).scalars().all()
    db.session.commit()
    return count


@pytest.fixture
def browser(client, make_user, sign_in_as):
    """A signed-in client with 500 credits: (client, user id, CSRF token)."""
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    return client, user_id, csrf_token(client)


@pytest.mark.smoke
@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
def test_a_bad_character_in_a_json_prompt_is_a_422_that_charges_nothing(browser, bad):
    client, user_id, token = browser
    before = _written()
    # Written by hand: a lone surrogate only exists as a JSON escape.
    body = '{"prompt": "a fox %s at dusk", "size": 256}' % ("\\u0000" if bad == NUL else "\\ud800")

    answer = client.post(API, data=body, content_type="application/json", headers={"X-CSRFToken": token})

    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_input" and answer.get_json()["field"] == "prompt"
    assert balance(user_id) == 500 and _written() == before


@pytest.mark.parametrize(
    "body",
    [
        '{"prompt": "a fox", "size": "256\\u0000"}',
        '{"prompt": "a fox", "size": 256, "note\\ud800": 1}',
        '{"prompt": "a fox", "size": 256, "tags": ["ok", {"deep": "x\\udc00"}]}',
    ],
    ids=["other-field", "field-name", "nested"],
)
def test_every_string_of_a_json_body_is_checked(browser, body):
    client, user_id, token = browser
    before = _written()

    answer = client.post(API, data=body, content_type="application/json", headers={"X-CSRFToken": token})

    assert answer.status_code == 422 and answer.get_json()["error"] == "invalid_input"
    assert balance(user_id) == 500 and _written() == before


def test_an_api_key_sending_a_lone_surrogate_gets_a_json_422(app, live_server, make_user):
    user_id = make_user(credits=100)
    token = api_keys.create_key(user_id, "script", ["spend"], None).token
    body = '{"prompt": "a fox \\ud800", "size": 256}'

    answer = requests.post(
        f"{live_server}/api/features/image",
        data=body,
        headers={**bearer(token), "Content-Type": "application/json"},
        timeout=30,
    )

    assert answer.status_code == 422 and answer.json()["field"] == "prompt"
    assert balance(user_id) == 100


@pytest.mark.parametrize(("path", "field"), CASES, ids=[f"{p}:{f}" for p, f in CASES])
def test_a_nul_in_any_field_of_any_form_is_a_422_that_writes_nothing(browser, path, field):
    client, user_id, token = browser
    before = _written()
    form = {**FORMS[path], "csrf_token": token, field: BAD}

    answer = client.post(path, data=form)

    assert answer.status_code == 422, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == "text/html"
    assert "cannot be stored" in answer.get_data(as_text=True)
    assert balance(user_id) == 500 and _written() == before


def test_the_image_form_comes_back_with_what_was_typed(browser):
    client, user_id, token = browser
    form = {"csrf_token": token, "prompt": BAD, "size": "1024", "form_key": "k" * 24}

    page = client.post("/features/image", data=form)
    fragment = client.post("/features/image", data=form, headers={"HX-Request": "true"})

    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "<form" in html
    assert "a fox\ufffd at dusk</textarea>" in html  # kept, with the bad character marked
    assert '<option value="1024" selected>' in html
    assert fragment.status_code == 422 and "cannot be stored" in fragment.get_data(as_text=True)
    assert "<form" not in fragment.get_data(as_text=True)
    assert balance(user_id) == 500


def test_a_nul_in_a_query_argument_is_a_422(browser):
    client, _, _ = browser

    answer = client.get("/features/image/quote?size=256%00")

    assert answer.status_code == 422
