"""`GET /api/usage`: captured credits by feature, API key or UTC day, for the caller's wallet only."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.accounts import api_keys
from creditapp.extensions import db
from creditapp.features import registry
from creditapp.history import usage
from creditapp.models import ApiKey, CreditLot, CreditSpend, Wallet, utcnow
from creditapp.platform import ratelimits
from tests.accounts.conftest import bearer
from tests.support.db import count_statements

OTHER_FEATURE = "summarize"  # any `feature_used` value: usage reads what the ledger stored


def spend(
    user_id: int,
    cost: int,
    feature: str = "image_generation",
    settle: str | None = "captured",
    at: datetime | None = None,
    key: str | None = None,
) -> int:
    """A spend through the ledger: captured, released or (settle=None) still held.

    Test setup then dates it `at` and, with `key` (a whole API key), marks it as that key's.
    """
    spend_id = ledger.hold(user_id, feature, cost).spend_id
    if settle == "captured":
        ledger.capture(spend_id)
    elif settle == "released":
        ledger.release(spend_id)
    values: dict = {}
    if at is not None:
        values["created_at"] = at
    if key is not None:
        prefix = key.rsplit("_", 1)[0]
        values["api_key_id"] = db.session.execute(
            sa.select(ApiKey.id).where(ApiKey.prefix == prefix)
        ).scalar_one()
    if values:
        db.session.execute(sa.update(CreditSpend).where(CreditSpend.id == spend_id).values(**values))
        db.session.commit()
    return spend_id


def new_key(user_id: int, name: str = "test key", scopes: tuple[str, ...] = ("spend", "read")) -> str:
    """A key for the user, made through the service: the whole key."""
    return api_keys.create_key(user_id, name, list(scopes), None).token


def at(day: date, clock: time = time(12)) -> datetime:
    """A UTC moment on `day`."""
    return datetime.combine(day, clock, tzinfo=UTC)


@pytest.fixture
def today() -> date:
    return utcnow().date()


@pytest.fixture
def signed_in(client, make_user, sign_in_as):
    """A browser session for a user with 10,000 credits: (client, user_id)."""
    user_id = make_user(credits=10_000)
    sign_in_as(client, user_id)
    return client, user_id


def usage_of(client, **params):
    response = client.get("/api/usage", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_by_feature_sums_captured_credits_and_counts_uses_most_credits_first(signed_in, today):
    client, user_id = signed_in
    spend(user_id, 10)
    spend(user_id, 20)
    spend(user_id, 5, OTHER_FEATURE)
    spend(user_id, 7, OTHER_FEATURE)
    spend(user_id, 9, OTHER_FEATURE)

    answer = usage_of(client, group_by="feature")

    assert answer == {
        "from": (today - timedelta(days=29)).isoformat(),
        "to": today.isoformat(),
        "group_by": "feature",
        "total": 51,
        "rows": [
            {
                "key": "image_generation",
                "label": registry.title("image_generation"),
                "credits": 30,
                "uses": 2,
            },
            {"key": OTHER_FEATURE, "label": registry.title(OTHER_FEATURE), "credits": 21, "uses": 3},
        ],
    }


def test_by_key_names_each_key_by_name_and_prefix_and_the_browser_apart(signed_in):
    client, user_id = signed_in
    ci = new_key(user_id, name="CI pipeline")
    laptop = new_key(user_id, name="Laptop")
    spend(user_id, 20, key=ci)
    spend(user_id, 20, key=ci)
    spend(user_id, 5, key=laptop)
    spend(user_id, 10)  # in the browser
    ci_prefix, laptop_prefix = ci.rsplit("_", 1)[0], laptop.rsplit("_", 1)[0]

    answer = usage_of(client, group_by="key")

    assert answer["rows"] == [
        {"key": ci_prefix, "label": f"CI pipeline ({ci_prefix})", "credits": 40, "uses": 2},
        {"key": "browser", "label": "Browser", "credits": 10, "uses": 1},
        {"key": laptop_prefix, "label": f"Laptop ({laptop_prefix})", "credits": 5, "uses": 1},
    ]
    assert answer["total"] == 55


def test_by_day_lists_every_day_of_the_range_oldest_first_zeros_included(signed_in, today):
    client, user_id = signed_in
    first = today - timedelta(days=6)
    spend(user_id, 10, at=at(first))
    spend(user_id, 4, at=at(first + timedelta(days=3)))
    spend(user_id, 6, OTHER_FEATURE, at=at(first + timedelta(days=3), time(23, 30)))

    answer = usage_of(client, group_by="day", **{"from": first.isoformat(), "to": today.isoformat()})

    days = [first + timedelta(days=i) for i in range(7)]
    assert [row["key"] for row in answer["rows"]] == [d.isoformat() for d in days]
    assert [row["credits"] for row in answer["rows"]] == [10, 0, 0, 10, 0, 0, 0]
    assert [row["uses"] for row in answer["rows"]] == [1, 0, 0, 2, 0, 0, 0]
    assert answer["total"] == 20


def test_the_range_counts_whole_utc_days_both_edges_included(signed_in):
    client, user_id = signed_in
    first, last = date(2025, 3, 1), date(2025, 3, 31)
    spend(user_id, 1, at=at(first - timedelta(days=1), time(23, 59, 59, 999_999)))  # out
    spend(user_id, 10, at=at(first, time(0, 0)))  # in: the first instant of `from`
    spend(user_id, 100, at=at(last, time(23, 59, 59, 999_999)))  # in: the last instant of `to`
    spend(user_id, 1_000, at=at(last + timedelta(days=1), time(0, 0)))  # out

    by_day = usage_of(client, group_by="day", **{"from": "2025-03-01", "to": "2025-03-31"})
    one_day = usage_of(client, group_by="feature", **{"from": "2025-03-31", "to": "2025-03-31"})

    assert by_day["total"] == 110 and len(by_day["rows"]) == 31
    assert by_day["rows"][0] == {"key": "2025-03-01", "label": "2025-03-01", "credits": 10, "uses": 1}
    assert by_day["rows"][-1] == {"key": "2025-03-31", "label": "2025-03-31", "credits": 100, "uses": 1}
    assert one_day["total"] == 100


def test_held_and_released_spends_are_not_counted_until_captured(signed_in):
    client, user_id = signed_in
    spend(user_id, 10)
    held = spend(user_id, 20, settle=None)  # a job still running
    spend(user_id, 40, settle="released")  # a job that failed: nothing charged

    before = usage_of(client, group_by="feature")
    ledger.capture(held)
    after = usage_of(client, group_by="feature")

    assert (before["total"], before["rows"][0]["uses"]) == (10, 1)
    assert (after["total"], after["rows"][0]["uses"]) == (30, 2)


def test_a_partial_capture_counts_what_was_charged_not_what_was_held(signed_in):
    client, user_id = signed_in
    held = spend(user_id, 50, settle=None)
    ledger.capture(held, charge=12)

    assert usage_of(client, group_by="feature")["total"] == 12


def test_another_users_spends_are_never_counted(signed_in, make_user):
    client, user_id = signed_in
    other = make_user(credits=5_000)
    theirs = new_key(other, name="Their key")
    spend(other, 300)
    spend(other, 200, key=theirs)
    spend(other, 100, OTHER_FEATURE)
    spend(user_id, 7)

    for grouping in ("day", "feature", "key"):
        answer = usage_of(client, group_by=grouping)
        assert answer["total"] == 7, grouping
    assert usage_of(client, group_by="key")["rows"] == [
        {"key": "browser", "label": "Browser", "credits": 7, "uses": 1}
    ]


def test_defaults_are_the_last_30_utc_days_by_day(signed_in, today):
    client, user_id = signed_in
    spend(user_id, 3, at=at(today - timedelta(days=29)))
    spend(user_id, 900, at=at(today - timedelta(days=30)))

    answer = usage_of(client)
    from_only = usage_of(client, **{"from": (today - timedelta(days=1)).isoformat()})
    to_only = usage_of(client, to=(today - timedelta(days=30)).isoformat())

    assert (answer["from"], answer["to"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    assert answer["group_by"] == "day" and len(answer["rows"]) == 30 and answer["total"] == 3
    assert (from_only["to"], len(from_only["rows"])) == (today.isoformat(), 2)
    assert to_only["from"] == (today - timedelta(days=59)).isoformat() and to_only["total"] == 900


def test_a_range_of_366_days_is_allowed(signed_in):
    client, _ = signed_in

    answer = usage_of(client, **{"from": "2024-01-01", "to": "2024-12-31"})  # a leap year

    assert len(answer["rows"]) == 366


def table_counts() -> tuple:
    """What a request could have changed: spends, lots, wallets, keys."""
    counted = [sa.select(sa.func.count()).select_from(m) for m in (CreditSpend, CreditLot, ApiKey)]
    balances = sa.select(sa.func.sum(Wallet.balance))
    last_used = sa.select(sa.func.max(ApiKey.last_used_at))
    return tuple(db.session.execute(q).scalar() for q in (*counted, balances, last_used))


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from", "on or before"),
        ({"from": "2025-02-30"}, "from", "YYYY-MM-DD"),
        ({"from": "2025-3-1"}, "from", "YYYY-MM-DD"),
        ({"to": "20250301"}, "to", "YYYY-MM-DD"),
        ({"to": "2025-W09-6"}, "to", "YYYY-MM-DD"),
        ({"to": "yesterday"}, "to", "YYYY-MM-DD"),
        ({"to": "２０２５-03-01"}, "to", "YYYY-MM-DD"),  # full-width digits
        ({"from": ""}, "from", "YYYY-MM-DD"),
        ({"from": "2024-01-01", "to": "2025-01-01"}, "from", "366 days"),
        ({"from": "1900-01-01", "to": "2100-01-01"}, "from", "366 days"),
        ({"group_by": "week"}, "group_by", "day, feature, key, member"),
        ({"group_by": "Feature"}, "group_by", "day, feature, key, member"),
    ],
)
def test_bad_parameters_are_a_422_in_the_input_error_shape_and_write_nothing(signed_in, params, field, words):
    client, user_id = signed_in
    spend(user_id, 10)
    before = table_counts()

    response = client.get("/api/usage", query_string=params)

    body = response.get_json()
    assert response.status_code == 422
    assert body["error"] == "invalid_input" and body["field"] == field
    assert words in body["message"]
    assert table_counts() == before


def test_a_key_needs_the_read_scope(client, make_user):
    user_id = make_user()
    spend(user_id, 10)
    reader = new_key(user_id, scopes=("read",))
    spender = new_key(user_id, scopes=("spend",))

    allowed = client.get("/api/usage", headers=bearer(reader), query_string={"group_by": "key"})
    refused = client.get("/api/usage", headers=bearer(spender))

    assert allowed.status_code == 200 and allowed.get_json()["total"] == 10
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "insufficient_scope"
    assert refused.get_json()["required_scope"] == "read"


def test_a_key_has_the_api_key_rate_limit_here_as_on_every_read_route(app):
    assert ratelimits.limited_endpoints(app)["account.api_usage"] == "api_key"


def test_signed_out_is_a_401_in_json(client):
    response = client.get("/api/usage", query_string={"group_by": "feature"})

    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_or_unknown_key_is_a_401(client, make_user):
    user_id = make_user()
    token = new_key(user_id, scopes=("read",))
    revoked = new_key(user_id, scopes=("read",))
    prefix = revoked.rsplit("_", 1)[0]
    api_keys.revoke_key(
        user_id, db.session.execute(sa.select(ApiKey.id).where(ApiKey.prefix == prefix)).scalar()
    )

    unknown = client.get("/api/usage", headers=bearer(token[:-4] + "AAAA"))
    gone = client.get("/api/usage", headers=bearer(revoked))

    for response in (unknown, gone):
        assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


@pytest.mark.parametrize("grouping", usage.GROUPINGS)
def test_each_grouping_is_one_grouped_statement(signed_in, grouping):
    _, user_id = signed_in
    spend(user_id, 10, key=new_key(user_id))
    spend(user_id, 5, OTHER_FEATURE)
    query = usage.parse_query({"group_by": grouping}, utcnow().date())

    with count_statements(db.engine) as log:
        found = usage.spent(user_id, query, registry.title)

    assert log.count == 1 and "GROUP BY" in log.statements[0]
    assert found.total == 15


@pytest.mark.smoke
def test_utc_day_edges_hold_on_every_database(app, make_user):
    """The same edges through the service, in the smoke pass that also runs on SQLite."""
    user_id = make_user(credits=5_000)
    day = date(2025, 6, 15)
    spend(user_id, 1, at=at(day - timedelta(days=1), time(23, 59, 59, 999_999)))
    spend(user_id, 10, at=at(day, time(0, 0)))
    spend(user_id, 100, at=at(day, time(23, 59, 59, 999_999)))
    spend(user_id, 1_000, at=at(day + timedelta(days=1), time(0, 0)))
    query = usage.UsageQuery(day - timedelta(days=1), day + timedelta(days=1), "day")

    found = usage.spent(user_id, query, registry.title)

    assert [(row.key, row.credits, row.uses) for row in found.rows] == [
        ("2025-06-14", 1, 1),
        ("2025-06-15", 110, 2),
        ("2025-06-16", 1_000, 1),
    ]
