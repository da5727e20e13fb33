"""`/history/usage`: a range picker (a GET form, htmx-enhanced), a chart and a table for each grouping."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from creditapp.features import registry
from creditapp.models import utcnow
from tests.history.test_usage_api import OTHER_FEATURE, at, new_key, spend
from tests.test_pages import check

ROW = re.compile(
    r'<tr class="usage-row"><td>([^<]+)</td><td class="num">([\d,]+)</td><td class="num">([\d,]+)</td></tr>'
)
BAR = re.compile(r'<rect class="chart-bar"[^>]*><title>([^<]+): (\d+) credits</title></rect>')
HTMX = {"HX-Request": "true"}


def rows(html: str) -> list[tuple[str, int, int]]:
    """(label, credits, uses) of each row of the usage table."""
    return [(label, int(c.replace(",", "")), int(u.replace(",", ""))) for label, c, u in ROW.findall(html)]


@pytest.fixture
def spender(client, make_user, sign_in_as):
    """A signed-in user who spent through a key, in the browser, on two features: (client, key prefix)."""
    user_id = make_user(credits=10_000)
    sign_in_as(client, user_id)
    key = new_key(user_id, name="Nightly batch")
    today = utcnow().date()
    spend(user_id, 20, key=key, at=at(today - timedelta(days=2)))
    spend(user_id, 1_500, key=key, at=at(today - timedelta(days=2)))
    spend(user_id, 10, OTHER_FEATURE)
    spend(user_id, 40, settle="released")
    return client, key.rsplit("_", 1)[0]


@pytest.mark.parametrize(
    ("grouping", "heading", "expected"),
    [
        ("day", "Day (UTC)", "by_day"),
        (
            "feature",
            "Feature",
            [(registry.title("image_generation"), 1_520, 2), (registry.title(OTHER_FEATURE), 10, 1)],
        ),
        ("key", "API key", "by_key"),
    ],
)
def test_the_page_shows_a_table_and_a_chart_for_each_grouping(spender, grouping, heading, expected):
    client, prefix = spender
    today = utcnow().date()
    if expected == "by_day":
        expected = [((today - timedelta(days=2)).isoformat(), 1_520, 2), (today.isoformat(), 10, 1)]
    elif expected == "by_key":
        expected = [(f"Nightly batch ({prefix})", 1_520, 2), ("Browser", 10, 1)]

    response = client.get("/history/usage", query_string={"group_by": grouping})

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith("<!doctype html>")
    assert "<h1>Usage</h1>" in html
    assert f'<th scope="col">{heading}</th>' in html
    assert rows(html) == expected
    assert '<tr><th scope="row">Total</th><td class="num">1,530</td><td class="num">3</td></tr>' in html
    assert '<svg class="spend-chart' in html and 'role="img"' in html
    bars = BAR.findall(html)
    assert sum(int(credits) for _, credits in bars) == 1_530
    assert len(bars) == (30 if grouping == "day" else 2)
    assert f'<option value="{grouping}" selected>' in html


def test_without_javascript_the_picker_is_a_get_form_that_opens_the_page_for_the_range(spender):
    client, _ = spender
    today = utcnow().date()
    first = today - timedelta(days=2)

    html = client.get(
        "/history/usage",
        query_string={"from": first.isoformat(), "to": first.isoformat(), "group_by": "feature"},
    ).get_data(as_text=True)

    form = re.search(r'<form class="usage-picker"[^>]*>', html).group(0)
    assert 'method="get"' in form and 'action="/history/usage"' in form
    assert 'hx-get="/history/usage"' in form and 'hx-target="#usage-body"' in form
    assert re.search(rf'name="from"[^>]*value="{first.isoformat()}"', html)
    assert re.search(rf'name="to"[^>]*value="{first.isoformat()}"', html)
    assert rows(html) == [(registry.title("image_generation"), 1_520, 2)]  # the day before yesterday only
    assert (
        '<label for="usage-from">From</label>' in html
        and '<label for="usage-group-by">Group by</label>' in html
    )


def test_htmx_gets_the_picker_and_results_only_and_a_line_for_screen_readers(spender):
    client, _ = spender

    response = client.get("/history/usage", query_string={"group_by": "key"}, headers=HTMX)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and "<h1" not in html and "summary-balance" not in html
    # The picker comes too, so a page htmx restores on Back shows the range its results are for.
    assert 'class="usage-picker"' in html and '<option value="key" selected>' in html
    assert '<h2 id="usage-heading">Credits spent by API key,' in html
    assert len(rows(html)) == 2
    assert re.search(
        r'<p id="usage-status" hx-swap-oob="innerHTML">Showing 1,530 credits spent by API key', html
    )
    assert "HX-Request" in response.headers["Vary"]


def test_back_to_a_pushed_url_htmx_has_not_kept_gets_the_whole_page(spender):
    client, _ = spender
    headers = {**HTMX, "HX-History-Restore-Request": "true"}

    html = client.get("/history/usage", query_string={"group_by": "feature"}, headers=headers).get_data(
        as_text=True
    )

    assert html.startswith("<!doctype html>") and "usage-picker" in html and len(rows(html)) == 2


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"from": "2025-03-09", "to": "2025-03-01"}, "The first day must be on or before the last day."),
        ({"from": "2025-03-40", "to": "2025-03-41"}, "The first day is not a date"),
        ({"from": "2023-01-01", "to": "2025-01-01"}, "Choose at most 366 days: that range has 732."),
        ({"group_by": "week"}, "Group the credits by day, by feature, by API key or by member."),
    ],
)
def test_a_range_that_cannot_be_used_is_a_422_that_says_why_and_keeps_what_was_typed(spender, params, words):
    client, _ = spender

    page = client.get("/history/usage", query_string=params)
    fragment = client.get("/history/usage", query_string=params, headers=HTMX)

    html = page.get_data(as_text=True)
    assert page.status_code == 422 and fragment.status_code == 422
    assert 'role="alert"' in html and words in html
    assert "`" not in html.split('id="usage-problem"')[1].split("</div>")[0]  # words, not parameter names
    assert rows(html) == []
    for name in ("from", "to"):
        if name in params:
            assert f'value="{params[name]}"' in html
    assert words in fragment.get_data(as_text=True) and "<html" not in fragment.get_data(as_text=True)
    assert fragment.headers["HX-Push-Url"] == "false"  # Back never leads to a refused range


def test_empty_date_boxes_mean_the_last_30_days(spender):
    client, _ = spender
    today = utcnow().date()

    html = client.get("/history/usage", query_string={"from": "", "to": "", "group_by": "day"}).get_data(
        as_text=True
    )

    assert (
        f'value="{(today - timedelta(days=29)).isoformat()}"' in html
        and f'value="{today.isoformat()}"' in html
    )
    assert len(BAR.findall(html)) == 30


def test_a_range_with_nothing_spent_says_so(spender):
    client, _ = spender

    for grouping in ("feature", "key", "day"):
        html = client.get(
            "/history/usage", query_string={"from": "2020-01-01", "to": "2020-01-31", "group_by": grouping}
        ).get_data(as_text=True)
        assert "Nothing was spent in this range." in html and rows(html) == []


def test_a_year_by_day_draws_every_day_with_a_few_labels(spender):
    client, _ = spender
    today = utcnow().date()

    html = client.get(
        "/history/usage", query_string={"from": (today - timedelta(days=365)).isoformat(), "group_by": "day"}
    ).get_data(as_text=True)

    assert len(BAR.findall(html)) == 366
    labels = re.findall(r'<text class="chart-label" x="[\d.]+" y="164"', html)
    assert 4 <= len(labels) <= 9
    widths = [
        float(w)
        for w in re.findall(r'<rect class="chart-bar" x="[\d.]+" y="[\d.]+"\s+width="([\d.]+)"', html)
    ]
    assert min(widths) > 0


def test_history_links_to_the_usage_page(spender):
    client, _ = spender

    page = client.get("/history").get_data(as_text=True)
    fragment = client.get("/history/chart", headers=HTMX).get_data(as_text=True)

    assert '<noscript><a href="/history/usage">' in page
    assert '<a href="/history/usage">Usage by feature, API key and day, over any range</a>' in fragment


def test_the_usage_page_needs_sign_in(client):
    page = client.get("/history/usage?group_by=feature")
    fragment = client.get(
        "/history/usage", headers={**HTMX, "HX-Current-URL": "http://localhost/history/usage?group_by=key"}
    )

    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=%2Fhistory%2Fusage%3Fgroup_by%3Dfeature"
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/login?next=%2Fhistory%2Fusage%3Fgroup_by%3Dkey"


def test_the_page_and_its_fragment_carry_no_inline_script_or_style(spender):
    client, _ = spender

    for headers in ({}, HTMX):
        html = client.get("/history/usage", query_string={"group_by": "key"}, headers=headers).get_data(
            as_text=True
        )
        found = check(html)
        assert found.problems == []
        assert all(asset.startswith("/static/") for asset in found.assets)
