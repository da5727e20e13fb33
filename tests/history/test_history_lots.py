"""History and its CSV with lots: expiries and voids are lines of their own, in words, and each
spend names the lots it drew from, fetched once per page whatever the page holds."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.history import entries as history
from creditapp.history import lots as lot_words
from creditapp.models import CreditAdjustment, CreditLot, utcnow
from tests.history.test_history import buy, spend
from tests.support.db import count_statements

LINE = re.compile(r'<tr class="entry entry-(\w+)" id="entry-\w+-(\d+)">(.*?)</tr>', re.S)


def lines(html: str) -> dict[tuple[str, int], str]:
    """Each ledger line's cells as text (tags dropped, spaces squeezed), by (kind, id)."""
    return {
        (kind, int(row_id)): " ".join(re.sub(r"<[^>]+>", " ", body).split())
        for kind, row_id, body in LINE.findall(html)
    }


def lapse(lot_id: int) -> None:
    """Test setup: move a lot's expiry a second into the past."""
    db.session.execute(
        sa.update(CreditLot).where(CreditLot.id == lot_id).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def purchase_lot(purchase_id: int) -> CreditLot:
    return db.session.scalars(sa.select(CreditLot).where(CreditLot.purchase_id == purchase_id)).one()


def today() -> str:
    return lot_words.day(utcnow())


def a_ledger_with_lots(user_id: int) -> dict[str, int]:
    """The signup bonus (500) and a purchase (100) spent across, a released spend, a grant
    voided, the purchase's rest expired, then a spend from a new grant alone. Returns the ids
    of the lines to look at."""
    purchase_id = buy(user_id, 100)
    across = spend(user_id, 520)  # the bonus expires sooner than the purchase: 500 from it, then 20
    released = spend(user_id, 30, "released")
    voided_lot = ledger.grant(user_id, 50, note="launch promo").lot_id
    ledger.void_lot(voided_lot, "sent twice")
    lapse(purchase_lot(purchase_id).id)
    ledger.expire_lots()
    ledger.grant(user_id, 40, note="top up")
    one_lot = spend(user_id, 10)
    ended = dict(
        db.session.execute(
            sa.select(CreditAdjustment.reason, CreditAdjustment.id).where(
                CreditAdjustment.user_id == user_id, CreditAdjustment.reason.in_(("expired", "voided"))
            )
        ).all()
    )
    return {"across": across, "released": released, "one_lot": one_lot, **ended}


def test_expiries_and_voids_are_lines_of_their_own_and_spends_name_their_lots(client, make_user, sign_in_as):
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    ids = a_ledger_with_lots(user_id)

    page = lines(client.get("/history").get_data(as_text=True))

    day = today()
    assert f"Expired: 80 credits of the purchase of {day} Expired -80" in page[("adjustment", ids["expired"])]
    assert (
        f"Voided: 50 credits of the grant “launch promo” of {day} (sent twice) Voided -50"
        in page[("adjustment", ids["voided"])]
    )
    assert (
        f"Image generation from Signup bonus (500), Purchase of {day} (20) Charged -520"
        in page[("spend", ids["across"])]
    )
    assert f"Image generation from Grant “top up” of {day} Charged -10" in page[("spend", ids["one_lot"])]
    assert "from" not in page[("spend", ids["released"])]  # given back: it holds nothing of any lot


def test_the_csv_has_the_lots_each_spend_drew_from_and_the_expiries_in_words(client, make_user, sign_in_as):
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    a_ledger_with_lots(user_id)

    exported = list(csv.DictReader(io.StringIO(client.get("/history.csv").get_data(as_text=True))))

    day = today()
    spends = {row["credits"]: row["drawn_from"] for row in exported if row["kind"] == "spend"}
    assert spends == {
        "-520": f"Signup bonus: 500; Purchase of {day}: 20",
        "0": "",  # the released spend
        "-10": f"Grant “top up” of {day}: 10",
    }
    ended = [
        (row["description"], row["status"], row["credits"], row["drawn_from"])
        for row in exported
        if row["status"] in ("expired", "voided")
    ]
    assert ended == [
        (f"Expired: 80 credits of the purchase of {day}", "expired", "-80", ""),
        (f"Voided: 50 credits of the grant “launch promo” of {day} (sent twice)", "voided", "-50", ""),
    ]


def test_a_page_fetches_the_lots_of_all_its_spends_in_one_query(make_user):
    few, many = make_user(credits=500), make_user(credits=500)
    for user_id, spends in ((few, 2), (many, 45)):
        ledger.grant(user_id, 100, note="second lot", priority=60)  # spent after the bonus
        for _ in range(spends):
            spend(user_id, 12)  # for `many`, the 42nd spend takes 8 from the bonus and 4 from the grant

    counts = {}
    for user_id in (few, many):
        with count_statements(db.engine) as log:
            found = history.page(user_id, limit=50)
        counts[user_id] = log.count
        assert all(e.drawn_from for e in found.entries if e.kind == "spend")
        assert sum("credit_lot_draws" in s for s in log.statements) == 1

    assert counts[few] == counts[many]
    drawn = [e.drawn_from for e in history.page(many, limit=50).entries if e.kind == "spend"]
    assert len(drawn) == 45
    assert [(d.lot.source, d.credits) for d in drawn[3]] == [("signup_bonus", 8), ("grant", 4)]
    assert {d.lot.source for spent in drawn[:3] for d in spent} == {"grant"}
    assert {d.lot.source for spent in drawn[4:] for d in spent} == {"signup_bonus"}


def test_a_page_without_spends_or_ended_lots_asks_nothing_of_the_lots(make_user):
    user_id = make_user(credits=500)
    ledger.grant(user_id, 5, note="plain")

    with count_statements(db.engine) as log:
        history.page(user_id, limit=50)

    assert not any("credit_lots" in s or "credit_lot_draws" in s for s in log.statements)
