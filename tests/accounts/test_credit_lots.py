"""Lots as a person and a program see them: the balance API's owed, expiring and lots,
`GET /api/credit-lots`, the Credits page and the "N credits expire on DATE" line."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditLot, utcnow
from tests.accounts.conftest import bearer
from tests.history.test_history import buy, spend
from tests.support.db import count_statements

HTMX = {"HX-Request": "true"}


class LotRows(HTMLParser):
    """The Credits page's lot rows, each as its cells' text with whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cells: list[str] | None = None
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "tr" and "lot" in classes:
            self._cells = []
        elif tag == "td" and self._cells is not None:
            self._cells.append("")
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_cell = False
        elif tag == "tr" and self._cells is not None:
            self.rows.append([" ".join(cell.split()) for cell in self._cells])
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._in_cell and self._cells:
            self._cells[-1] += data


def lot_rows(html: str) -> list[list[str]]:
    parser = LotRows()
    parser.feed(html)
    return parser.rows


BLOCK_TAG = re.compile(r"</?(?:p|div|dt|dd|td|th|tr|li|h[1-6]|section|header|nav|main)\b[^>]*>")


def words(html: str) -> str:
    """The page's text as read: tags dropped (blocks apart), whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", BLOCK_TAG.sub(" ", html)).split())


def day(when) -> str:
    return when.strftime("%Y-%m-%d")


def owing(user_id: int, bought: int, spent: int) -> int:
    """Buy `bought`, spend `spent`, then refund the whole purchase: what the lots lack is owed."""
    purchase_id = buy(user_id, bought)
    spend(user_id, spent)
    ledger.claw_back_refund(purchase_id, bought, "re_test")
    return purchase_id


def expire_now(lot_id: int) -> None:
    """Move a lot's expiry into the past, then run the sweep (as `flask credits expire` does)."""
    db.session.execute(
        sa.update(CreditLot).where(CreditLot.id == lot_id).values(expires_at=utcnow() - timedelta(days=1))
    )
    db.session.commit()
    ledger.expire_lots()


@pytest.fixture
def signed_in(client, make_user, sign_in_as):
    """A client signed in as a user with the 500-credit signup bonus (a promotional lot)."""
    user_id = make_user()
    sign_in_as(client, user_id)
    return client, user_id


# --- GET /api/user/credits ---------------------------------------------------------------


def test_the_balance_api_shows_what_is_owed_after_a_refund_larger_than_what_is_left(
    client, make_user, sign_in_as
):
    user_id = make_user(credits=0)
    sign_in_as(client, user_id)
    owing(user_id, bought=100, spent=80)  # 20 left to take back, 80 owed

    answer = client.get("/api/user/credits")

    assert answer.status_code == 200
    assert answer.json == {"credits": -80, "held": 0, "owed": 80, "expiring": None, "lots": []}


def test_the_next_lot_pays_what_is_owed_first(client, make_user, sign_in_as):
    user_id = make_user(credits=0)
    sign_in_as(client, user_id)
    owing(user_id, bought=100, spent=80)

    buy(user_id, 500)

    balance = client.get("/api/user/credits").json
    assert (balance["credits"], balance["owed"]) == (420, 0)
    [lot] = balance["lots"]
    assert (lot["source"], lot["amount"], lot["remaining"]) == ("purchase", 500, 420)


def test_expiring_appears_only_while_a_lot_ends_inside_the_notice_window(app, signed_in, monkeypatch):
    client, user_id = signed_in  # the signup bonus ends in 90 days: outside the 7-day window
    assert client.get("/api/user/credits").json["expiring"] is None

    ends = utcnow() + timedelta(days=3)
    ledger.grant(user_id, 30, note="trial", expires_at=ends)

    assert client.get("/api/user/credits").json["expiring"] == {
        "credits": 30,
        "expires_at": ends.isoformat().replace("+00:00", "Z"),
    }
    monkeypatch.setitem(app.config, "LOT_EXPIRY_NOTICE_DAYS", 2)
    assert client.get("/api/user/credits").json["expiring"] is None


def test_the_balance_api_lists_the_live_lots_in_spend_order(signed_in):
    client, user_id = signed_in
    purchase_id = buy(user_id, 100)
    forever = ledger.grant(user_id, 50, note="goodwill", category="paid").lot_id
    gone = ledger.grant(user_id, 70, note="oops", expires_at=utcnow() + timedelta(days=30)).lot_id
    ledger.void_lot(gone, "granted by mistake")
    lapsed = ledger.grant(user_id, 40, note="trial", expires_at=utcnow() + timedelta(days=30)).lot_id
    expire_now(lapsed)

    balance = client.get("/api/user/credits").json

    assert (balance["credits"], balance["held"], balance["owed"]) == (650, 0, 0)
    # The signup bonus ends in 90 days, the purchase in 365, the grant never.
    assert [(lot["source"], lot["remaining"]) for lot in balance["lots"]] == [
        ("signup_bonus", 500),
        ("purchase", 100),
        ("grant", 50),
    ]
    purchase, grant = balance["lots"][1], balance["lots"][2]
    assert purchase["category"] == "paid" and purchase["purchase_id"] == purchase_id
    assert purchase["expires_at"].endswith("Z") and purchase["effective_at"].endswith("Z")
    assert grant == {
        "id": forever,
        "source": "grant",
        "category": "paid",
        "amount": 50,
        "remaining": 50,
        "priority": 50,
        "state": "live",
        "effective_at": grant["effective_at"],
        "expires_at": None,
        "voided_at": None,
        "created_at": grant["created_at"],
        "purchase_id": None,
        "reason": "goodwill",
    }


# --- GET /api/credit-lots ----------------------------------------------------------------


def test_credit_lots_pages_newest_first_with_every_state(signed_in):
    client, user_id = signed_in
    ids = [ledger.grant(user_id, n, note=f"grant {n}").lot_id for n in (10, 20, 30, 40)]
    ledger.void_lot(ids[0], "test")

    first = client.get("/api/credit-lots?limit=2").json
    second = client.get(f"/api/credit-lots?limit=2&before={first['next_before']}").json
    last = client.get(f"/api/credit-lots?limit=2&before={second['next_before']}").json

    assert [lot["amount"] for lot in first["lots"]] == [40, 30]
    assert first["next_before"] == ids[2]
    assert [(lot["amount"], lot["state"]) for lot in second["lots"]] == [(20, "live"), (10, "voided")]
    assert [(lot["source"], lot["amount"]) for lot in last["lots"]] == [("signup_bonus", 500)]
    assert last["next_before"] is None
    voided = second["lots"][1]
    assert voided["remaining"] == 0 and voided["voided_at"].endswith("Z")
    everything = client.get("/api/credit-lots").json  # default limit 50
    assert len(everything["lots"]) == 5 and everything["next_before"] is None


def test_credit_lots_needs_the_read_scope(client, make_user, new_key):
    user_id = make_user()
    spender, reader = new_key(user_id, scopes=("spend",)), new_key(user_id, scopes=("read",))

    refused = client.get("/api/credit-lots", headers=bearer(spender))
    allowed = client.get("/api/credit-lots", headers=bearer(reader))

    assert refused.status_code == 403
    assert refused.json["error"] == "insufficient_scope" and refused.json["required_scope"] == "read"
    assert allowed.status_code == 200 and len(allowed.json["lots"]) == 1


def test_signed_out_credit_lots_is_a_401(client):
    answer = client.get("/api/credit-lots")

    assert answer.status_code == 401 and answer.json["error"] == "unauthorized"


def test_another_users_lots_never_appear(client, make_user, new_key):
    mine, theirs = make_user(), make_user()
    their_lots = {ledger.grant(theirs, 5, note="theirs").lot_id for _ in range(3)}
    my_lot = ledger.grant(mine, 5, note="mine").lot_id
    token = new_key(mine, scopes=("read",))

    seen = set()
    for query in ("", "?limit=1", f"?before={max(their_lots) + 1}", f"?before={my_lot}"):
        answer = client.get(f"/api/credit-lots{query}", headers=bearer(token))
        seen |= {lot["id"] for lot in answer.json["lots"]}
    balance = client.get("/api/user/credits", headers=bearer(token)).json

    assert seen and not seen & their_lots
    assert not {lot["id"] for lot in balance["lots"]} & their_lots


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=-1", "limit"),
        ("limit=%2B5", "limit"),  # "+5"
        ("limit=%EF%BC%95", "limit"),  # a full-width 5, which int() would take
        ("before=0", "before"),
        ("before=x", "before"),
        ("before=9223372036854775808", "before"),  # past the largest id PostgreSQL stores
    ],
)
def test_a_bad_page_argument_is_a_422_and_writes_nothing(signed_in, query, field):
    client, _ = signed_in

    with count_statements(db.engine) as log:
        answer = client.get(f"/api/credit-lots?{query}")

    assert answer.status_code == 422
    assert answer.json["error"] == "invalid_input" and answer.json["field"] == field
    assert field in answer.json["message"]
    assert all(s.lstrip().upper().startswith("SELECT") for s in log.statements), log.statements


# --- the Credits page --------------------------------------------------------------------


def test_the_credits_page_lists_every_lot_in_words(signed_in):
    client, user_id = signed_in  # a 500-credit promotional signup bonus
    buy(user_id, 500)
    spend(user_id, 380)  # from the signup bonus: it ends first
    lapsed = ledger.grant(user_id, 40, note="trial", expires_at=utcnow() + timedelta(days=30)).lot_id
    expire_now(lapsed)
    voided = ledger.grant(user_id, 60, note="oops", category="paid").lot_id
    ledger.void_lot(voided, "granted by mistake")
    lots = {lot.id: lot for lot in ledger.lots_of(user_id)}
    signup, purchase = (lots[n] for n in sorted(lots)[:2])
    added = {n: day(lot.created_at) for n, lot in lots.items()}

    html = client.get("/account/credits").get_data(as_text=True)

    assert lot_rows(html) == [
        [added[voided], "Grant: oops", "Paid", "0 of 60", f"Voided on {day(lots[voided].voided_at)}"],
        [
            added[lapsed],
            "Grant: trial",
            "Promotional",
            "0 of 40",
            f"Expired on {day(lots[lapsed].expires_at)}",
        ],
        [added[purchase.id], "Purchase", "Paid", "500 of 500", day(purchase.expires_at)],
        [added[signup.id], "Signup bonus", "Promotional", "120 of 500", day(signup.expires_at)],
    ]
    text = words(html)
    assert "Balance 620 credits" in text and "On hold 0 credits" in text and "Owed 0 credits" in text
    assert "You owe" not in text and "Load more" not in text


def test_a_lot_that_never_expires_says_never(signed_in):
    client, user_id = signed_in
    ledger.grant(user_id, 1_500, note="welcome back", category="paid")

    [newest, _] = lot_rows(client.get("/account/credits").get_data(as_text=True))

    assert newest[1:] == ["Grant: welcome back", "Paid", "1,500 of 1,500", "Never"]


def test_the_credits_page_explains_what_is_owed(client, make_user, sign_in_as):
    user_id = make_user(credits=0)
    sign_in_as(client, user_id)
    owing(user_id, bought=100, spent=80)

    text = words(client.get("/account/credits").get_data(as_text=True))

    assert "Balance -80 credits" in text and "Owed 80 credits" in text
    assert "You owe 80 credits: the next credits you buy pay this first." in text


def test_a_long_list_of_lots_pages_like_history_with_and_without_javascript(signed_in):
    client, user_id = signed_in
    for n in range(55):
        ledger.grant(user_id, n + 1, note=f"grant {n + 1}")

    first = client.get("/account/credits").get_data(as_text=True)
    cursor = re.search(r'name="before" value="(\d+)"', first).group(1)
    more = client.get(f"/account/credits?before={cursor}", headers=HTMX).get_data(as_text=True)
    next_page = client.get(f"/account/credits?before={cursor}").get_data(as_text=True)

    assert len(lot_rows(first)) == 50 and "Load more" in first
    assert lot_rows(first)[0][2:4] == ["Promotional", "55 of 55"]
    assert len(lot_rows(more)) == 6 and "<html" not in more and "Load more" not in more
    assert lot_rows(more)[-1][1] == "Signup bonus"
    assert lot_rows(next_page) == lot_rows(more)
    assert "Back to the newest lots" in next_page and "<h1>Credits</h1>" in next_page


def test_a_bad_credits_link_is_a_400_in_words(signed_in):
    client, _ = signed_in

    answer = client.get("/account/credits?before=not-a-lot")

    assert answer.status_code == 400
    assert "That Credits link is not valid" in answer.get_data(as_text=True)


def test_signed_out_the_credits_page_sends_to_sign_in(client):
    answer = client.get("/account/credits")

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=%2Faccount%2Fcredits"


def test_the_account_page_links_to_the_credits_page(signed_in):
    client, _ = signed_in

    assert 'href="/account/credits"' in client.get("/account").get_data(as_text=True)


# --- "N credits expire on DATE" beside the balance ---------------------------------------


def test_the_expiry_line_shows_beside_the_balance_only_inside_the_notice_window(signed_in):
    client, user_id = signed_in  # the signup bonus ends in 90 days
    for path in ("/", "/buy-credits", "/account", "/account/credits"):
        assert 'id="credits-expiring"' not in client.get(path).get_data(as_text=True), path

    ends = utcnow() + timedelta(days=5)
    ledger.grant(user_id, 1_200, note="trial", expires_at=ends)

    for path in ("/", "/buy-credits", "/account", "/history"):
        html = client.get(path).get_data(as_text=True)
        line = re.search(r'<span id="credits-expiring".*?</span>', html, re.S)
        assert line, path
        assert words(line.group(0)) == f"1,200 credits expire on {day(ends)}"
        assert 'href="/account/credits"' in line.group(0)
        badge = re.search(r'<span id="credit-badge"[^>]*>([^<]*)</span>', html, re.S)
        assert badge.group(1) == "1,700 credits"  # the badge itself is unchanged
    page = words(client.get("/account/credits").get_data(as_text=True))
    assert f"1,200 credits expire on {day(ends)}." in page


def test_the_expiry_line_follows_spends_and_goes_once_those_credits_are_used(signed_in):
    client, user_id = signed_in
    ledger.grant(user_id, 30, note="trial", expires_at=utcnow() + timedelta(days=2))

    spend(user_id, 10)  # drawn from the lot that ends soonest
    line = client.get("/account/credits/expiring", headers=HTMX)
    assert line.status_code == 200 and line.headers["Cache-Control"] == "no-store"
    assert words(line.get_data(as_text=True)).startswith("20 credits expire on")

    spend(user_id, 20)
    gone = client.get("/account/credits/expiring", headers=HTMX)
    assert gone.status_code == 200 and gone.get_data(as_text=True).strip() == ""


def test_one_credit_expires_in_the_singular(signed_in):
    client, user_id = signed_in
    ledger.grant(user_id, 1, note="trial", expires_at=utcnow() + timedelta(days=1))

    line = words(client.get("/account/credits/expiring", headers=HTMX).get_data(as_text=True))

    assert line.startswith("1 credit expires on")
