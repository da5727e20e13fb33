"""The history page: every ledger line once, newest first, in pages; the 30-day chart."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.history import usage
from creditapp.models import CreditAdjustment, CreditPurchase, CreditSpend, utcnow
from tests.support.db import count_statements

ROW = re.compile(r'<tr class="entry entry-(\w+)" id="entry-(\w+)-(\d+)">\s*<td><time datetime="([^"]+)"')
NEXT = re.compile(r'<input type="hidden" name="before" value="([^"]+)">')


def buy(user_id: int, credits: int, complete: bool = True) -> int:
    """A purchase row as checkout would create it, completed through the ledger."""
    purchase = CreditPurchase(
        user_id=user_id,
        stripe_price_id="price_test",
        credits_purchased=credits,
        amount_paid=credits,
        currency="usd",
    )
    db.session.add(purchase)
    db.session.commit()
    if complete:
        ledger.complete_purchase(purchase.id, f"pi_{purchase.id}", credits, "usd")
    return purchase.id


def spend(user_id: int, cost: int, settle: str = "captured") -> int:
    """A spend through the ledger, captured or released."""
    held = ledger.hold(user_id, "image_generation", cost)
    (ledger.capture if settle == "captured" else ledger.release)(held.spend_id)
    return held.spend_id


def rows(html: str) -> list[tuple[str, int, datetime]]:
    """(kind, id, time) of each ledger line in a page or fragment."""
    return [(kind, int(row_id), datetime.fromisoformat(when)) for kind, _, row_id, when in ROW.findall(html)]


def all_ledger_rows(user_id: int) -> set[tuple[str, int]]:
    """Every ledger row the user has, straight from the tables."""
    found = set()
    for kind, model in (
        ("purchase", CreditPurchase),
        ("spend", CreditSpend),
        ("adjustment", CreditAdjustment),
    ):
        ids = db.session.execute(sa.select(model.id).where(model.user_id == user_id)).scalars()
        found |= {(kind, i) for i in ids}
    return found


@pytest.fixture
def history_client(client, make_user, sign_in_as):
    """A signed-in client and its user id."""
    user_id = make_user()
    sign_in_as(client, user_id)
    return client, user_id


def test_load_more_walks_120_mixed_rows_newest_first_without_gaps_or_duplicates(history_client, make_user):
    client, user_id = history_client
    stranger = make_user()
    spend(stranger, 5)
    for i in range(40):
        buy(user_id, 100, complete=i % 4 != 0)
        spend(user_id, 5, "captured" if i % 3 else "released")
        ledger.grant(user_id, 1 + i, note=f"goodwill {i}")

    first = client.get("/history?all=1")  # abandoned checkouts included
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    seen = rows(html)
    assert len(seen) == 50
    pages = 1
    while cursor := NEXT.search(html):
        assert '<input type="hidden" name="all" value="1">' in html
        response = client.get(
            "/history", query_string={"before": cursor.group(1), "all": "1"}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "<html" not in html and html.lstrip().startswith("<tr")
        seen += rows(html)
        pages += 1

    keys = [(kind, row_id) for kind, row_id, _ in seen]
    assert pages == 3
    assert len(keys) == len(set(keys)) == 121  # 120 rows plus the signup bonus
    assert set(keys) == all_ledger_rows(user_id)
    times = [when for _, _, when in seen]
    assert times == sorted(times, reverse=True)


def test_the_next_page_also_works_without_javascript(history_client):
    client, user_id = history_client
    for i in range(55):
        ledger.grant(user_id, 1, note=f"n{i}")

    html = client.get("/history").get_data(as_text=True)
    cursor = NEXT.search(html).group(1)
    second = client.get("/history", query_string={"before": cursor}).get_data(as_text=True)

    assert "<html" in second and len(rows(second)) == 6
    assert "Back to the newest entries" in second
    assert NEXT.search(second) is None


@pytest.mark.parametrize("cursor", ["garbage", "2024-01-01T00:00:00~x~1", "~~", "a~1~2"])
def test_a_bad_cursor_is_a_400(history_client, cursor):
    client, _ = history_client

    page = client.get("/history", query_string={"before": cursor})
    fragment = client.get("/history", query_string={"before": cursor}, headers={"HX-Request": "true"})

    assert page.status_code == fragment.status_code == 400
    assert "history link is not valid" in page.get_data(as_text=True)
    assert 'role="alert"' in fragment.get_data(as_text=True)


def test_each_kind_of_line_explains_itself(history_client):
    client, user_id = history_client
    purchase_id = buy(user_id, 100)
    spend(user_id, 10)
    spend(user_id, 20, "released")
    ledger.grant(user_id, -3, note="duplicate order")
    ledger.claw_back_refund(purchase_id, 50, "re_1")
    buy(user_id, 500, complete=False)

    html = client.get("/history").get_data(as_text=True)

    for text in (
        "Signup bonus",
        "Bought 100 credits",
        "Paid</td>",
        'Image generation <span class="drawn-from">from Signup bonus</span></td><td>Charged',  # with its lot
        "Image generation</td><td>Not charged",
        "Debit: duplicate order",
        "Refund: 50 credits taken back",
    ):
        assert text in html
    assert "Bought 500 credits" not in html  # a checkout that moved no money is hidden by default
    everything = client.get("/history?all=1").get_data(as_text=True)
    assert "Checkout not completed (cancelled or declined), nothing charged" in everything
    assert "Checkout of 500 credits" in everything and "Bought 500 credits" not in everything
    assert ">-10<" in html and ">+100<" in html and ">-50<" in html


def backdate(spend_id: int, days: int) -> None:
    """Test setup: move a spend into the past."""
    db.session.execute(
        sa.update(CreditSpend)
        .where(CreditSpend.id == spend_id)
        .values(created_at=utcnow() - timedelta(days=days))
    )
    db.session.commit()


@pytest.mark.smoke
def test_the_chart_shows_captured_credits_per_day_for_30_days(history_client):
    client, user_id = history_client
    spend(user_id, 10)
    spend(user_id, 20)
    spend(user_id, 40, "released")
    backdate(spend(user_id, 5), days=3)
    backdate(spend(user_id, 7), days=45)

    page = client.get("/history").get_data(as_text=True)
    html = client.get("/history/chart").get_data(as_text=True)

    assert 'hx-get="/history/chart" hx-trigger="load"' in page
    today = utcnow().date()
    assert '<svg class="spend-chart"' in html
    bars = re.findall(r'<rect class="chart-bar"[^>]*><title>([\d-]+): (\d+) credits</title></rect>', html)
    assert len(bars) == 30
    spent = {day: int(n) for day, n in bars}
    assert spent[today.isoformat()] == 30
    assert spent[(today - timedelta(days=3)).isoformat()] == 5
    assert sum(spent.values()) == 35
    assert "35 credits spent on features since" in html


def test_daily_spend_is_one_grouped_query_and_zero_filled(history_client):
    _, user_id = history_client
    spend(user_id, 10)

    with count_statements(db.engine) as log:
        days = usage.daily_spend(user_id, days=30)

    assert log.count == 1 and "GROUP BY" in log.statements[0]
    assert len(days) == 30 and days[-1].credits == 10 and sum(d.credits for d in days) == 10


def test_an_empty_history_still_draws_an_empty_chart(client, make_user, sign_in_as):
    sign_in_as(client, make_user(credits=0))

    page = client.get("/history").get_data(as_text=True)
    chart = client.get("/history/chart").get_data(as_text=True)

    assert "Nothing here yet." in page
    assert '<svg class="spend-chart"' in chart and "0 credits spent on features" in chart


def test_history_needs_sign_in(client):
    response = client.get("/history")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fhistory"


def test_the_chart_fragment_needs_sign_in(client):
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/history"}

    response = client.get("/history/chart", headers=headers)

    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=%2Fhistory"
    assert "spend-chart" not in response.get_data(as_text=True)
