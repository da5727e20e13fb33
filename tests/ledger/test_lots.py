"""Credits in lots (§17): the spend order, giving back, expiry, clawbacks that owe, voiding.

Each test starts from a wallet with no lot (`make_user(credits=0)`) and builds the lots it
needs with `ledger.grant` and purchases, so every draw and entry it asserts is its own.
A lot "one second past its expiry" is made by moving its `expires_at` into the past (a
grant refuses an expiry already passed): no test waits on the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import (
    CreditAdjustment,
    CreditLot,
    CreditLotDraw,
    CreditLotEntry,
    CreditSpend,
    User,
    Wallet,
    utcnow,
)
from tests.ledger.test_ledger import pending_purchase

pytestmark = pytest.mark.usefixtures("app")

DAY = timedelta(days=1)


def lot(user_id: int, amount: int, category: str = "promotional", **options) -> int:
    """A granted lot of `amount` credits; returns its id."""
    granted = ledger.grant(user_id, amount, note=f"{category} lot", category=category, **options)
    return granted.lot_id


def draws_of(spend_id: int) -> list[tuple[int, int]]:
    """(lot id, credits) of each draw of a spend, in the order they were drawn."""
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(CreditLotDraw.lot_id, CreditLotDraw.amount)
        .where(CreditLotDraw.spend_id == spend_id)
        .order_by(CreditLotDraw.id)
    ).all()
    return [(r.lot_id, r.amount) for r in rows]


def remaining(*lot_ids: int) -> list[int]:
    """Each lot's stored remaining, in the order asked."""
    db.session.expire_all()
    rows = db.session.execute(sa.select(CreditLot.id, CreditLot.remaining).where(CreditLot.id.in_(lot_ids)))
    found = dict(rows.all())
    return [found[i] for i in lot_ids]


def entries(lot_id: int) -> list[tuple[str, int]]:
    """(kind, amount) of each entry of a lot, oldest first."""
    rows = db.session.execute(
        sa.select(CreditLotEntry.kind, CreditLotEntry.amount)
        .where(CreditLotEntry.lot_id == lot_id)
        .order_by(CreditLotEntry.id)
    ).all()
    return [(r.kind, r.amount) for r in rows]


def adjustments_of(user_id: int, reason: str) -> list[tuple[int | None, int]]:
    """(lot id, amount) of the user's adjustments with this reason, oldest first."""
    rows = db.session.execute(
        sa.select(CreditAdjustment.lot_id, CreditAdjustment.amount)
        .where(CreditAdjustment.user_id == user_id, CreditAdjustment.reason == reason)
        .order_by(CreditAdjustment.id)
    ).all()
    return [(r.lot_id, r.amount) for r in rows]


def stored_balance(user_id: int) -> int:
    """`wallets.balance` as stored (it counts a lapsed lot until the sweep writes it down)."""
    db.session.expire_all()
    return db.session.execute(
        sa.select(Wallet.balance).join(User, User.wallet_id == Wallet.id).where(User.id == user_id)
    ).scalar_one()


def shown_credits(user_id: int) -> int:
    """`User.credits`, what pages and the badge show."""
    db.session.expire_all()
    return db.session.get(User, user_id).credits


def lapse(lot_id: int, ago: timedelta = timedelta(seconds=1)) -> datetime:
    """Move a lot's expiry into the past, as if the clock had passed it `ago`; returns it."""
    when = utcnow() - ago
    db.session.execute(sa.update(CreditLot).where(CreditLot.id == lot_id).values(expires_at=when))
    db.session.commit()
    return when


def assert_clean() -> None:
    db.session.expire_all()
    assert ledger.audit() == []


@pytest.mark.smoke
def test_holds_draw_by_priority_then_soonest_expiry_then_promotional_then_oldest(make_user):
    user_id = make_user(credits=0)
    now = utcnow()
    # Made in an order that matches none of the rules, so each rule has to do the sorting.
    paid_soon = lot(user_id, 10, "paid", expires_at=now + 3 * DAY)
    paid_forever = lot(user_id, 10, "paid")
    paid_later = lot(user_id, 10, "paid", expires_at=now + 300 * DAY)
    promo_soon = lot(user_id, 10, "promotional", expires_at=now + 3 * DAY)
    first = lot(user_id, 10, "promotional", priority=10)
    assert_clean()

    spends = [ledger.hold(user_id, "image", cost) for cost in (4, 10, 17, 15)]

    assert [draws_of(s.spend_id) for s in spends] == [
        [(first, 4)],
        [(first, 6), (promo_soon, 4)],
        [(promo_soon, 6), (paid_soon, 10), (paid_later, 1)],
        [(paid_later, 9), (paid_forever, 6)],
    ]
    assert remaining(first, promo_soon, paid_soon, paid_later, paid_forever) == [0, 0, 0, 0, 4]
    assert ledger.balance(user_id) == ledger.Balance(credits=4, held=46, owed=0)
    assert_clean()

    # A release gives each draw back to the lot it came from, exactly.
    assert ledger.release(spends[2].spend_id) is True
    assert remaining(first, promo_soon, paid_soon, paid_later, paid_forever) == [0, 6, 10, 1, 4]
    assert ledger.balance(user_id) == ledger.Balance(credits=21, held=29, owed=0)
    assert_clean()

    # The next hold draws in spend order again from what came back.
    again = ledger.hold(user_id, "image", 7)
    assert draws_of(again.spend_id) == [(promo_soon, 6), (paid_soon, 1)]
    assert_clean()

    for spend in (spends[0], spends[1], spends[3], again):
        assert ledger.release(spend.spend_id) is True
    assert remaining(first, promo_soon, paid_soon, paid_later, paid_forever) == [10] * 5
    assert ledger.balance(user_id) == ledger.Balance(credits=50, held=0, owed=0)
    assert_clean()


@pytest.mark.smoke
def test_lots_of_one_rank_are_drawn_oldest_effective_first(make_user):
    user_id = make_user(credits=0)
    older, newer = lot(user_id, 5, "paid"), lot(user_id, 5, "paid")
    # Same priority, no expiry, same category: the one that took effect first goes first,
    # whatever the ids say.
    db.session.execute(
        sa.update(CreditLot).where(CreditLot.id == newer).values(effective_at=utcnow() - 2 * DAY)
    )
    db.session.commit()

    spend = ledger.hold(user_id, "image", 7)

    assert draws_of(spend.spend_id) == [(newer, 5), (older, 2)]
    assert_clean()


@pytest.mark.smoke
def test_a_capture_of_less_than_was_held_gives_the_rest_back_newest_draw_first(make_user):
    user_id = make_user(credits=0)
    early = lot(user_id, 20, priority=10)
    late = lot(user_id, 20)
    spend = ledger.hold(user_id, "metered", 30)
    assert draws_of(spend.spend_id) == [(early, 20), (late, 10)]

    assert ledger.capture(spend.spend_id, charge=12) is True

    # 18 given back: all 10 of the newest draw, then 8 of the one before it.
    assert draws_of(spend.spend_id) == [(early, 12), (late, 0)]
    assert remaining(early, late) == [8, 20]
    assert ledger.balance(user_id) == ledger.Balance(credits=28, held=0, owed=0)
    assert db.session.get(CreditSpend, spend.spend_id).credits_spent == 12
    assert ledger.capture(spend.spend_id, charge=1) is False  # settled once
    assert_clean()


@pytest.mark.smoke
def test_a_lot_past_its_expiry_is_never_drawn_from_even_before_the_sweep(make_user):
    user_id = make_user(credits=0)
    lapsing = lot(user_id, 10, expires_at=utcnow() + DAY, priority=0)  # would be drawn first
    kept = lot(user_id, 20, "paid")
    lapse(lapsing)
    assert_clean()  # the audit counts an unswept lapsed lot in the stored balance

    spend = ledger.hold(user_id, "image", 5)

    assert draws_of(spend.spend_id) == [(kept, 5)]
    assert ledger.balance(user_id) == ledger.Balance(credits=15, held=5, owed=0)
    assert shown_credits(user_id) == 15
    assert stored_balance(user_id) == 25  # the lapsed 10 until the sweep writes them down
    with pytest.raises(ledger.InsufficientCredits) as refused:
        ledger.hold(user_id, "image", 16)  # the stored balance covers it; the live lots do not
    assert (refused.value.balance, refused.value.required) == (15, 16)
    assert remaining(lapsing, kept) == [10, 15]
    assert [lv.remaining for lv in ledger.lots_of(user_id)] == [15, 0]
    assert_clean()

    first = ledger.expire_lots()
    second = ledger.expire_lots()

    wallet_id = db.session.get(User, user_id).wallet_id
    assert first == [ledger.Expired(lapsing, wallet_id, 10)]
    assert second == []
    assert adjustments_of(user_id, "expired") == [(lapsing, -10)]
    assert entries(lapsing) == [("expired", 10)]
    assert remaining(lapsing, kept) == [0, 15]
    assert ledger.balance(user_id) == ledger.Balance(credits=15, held=5, owed=0)
    assert stored_balance(user_id) == shown_credits(user_id) == 15
    assert_clean()


@pytest.mark.smoke
def test_the_sweep_expires_a_lot_at_the_moment_it_is_given(make_user):
    user_id = make_user(credits=0)
    ends_at = utcnow() + 3 * DAY
    lapsing = lot(user_id, 10, expires_at=ends_at)
    lot(user_id, 5, "paid")

    assert ledger.expire_lots(now=ends_at - timedelta(seconds=1)) == []
    assert remaining(lapsing) == [10]
    assert_clean()

    expired = ledger.expire_lots(now=ends_at)

    assert [(e.lot_id, e.credits) for e in expired] == [(lapsing, 10)]
    assert ledger.expire_lots(now=ends_at + DAY) == []
    assert adjustments_of(user_id, "expired") == [(lapsing, -10)]
    assert ledger.balance(user_id) == ledger.Balance(credits=5, held=0, owed=0)
    assert_clean()


@pytest.mark.smoke
@pytest.mark.parametrize("swept_first", [True, False], ids=["swept-then-released", "released-unswept"])
def test_held_credits_of_a_lot_that_expires_stay_held_and_expire_when_released(make_user, swept_first):
    user_id = make_user(credits=0)
    lapsing = lot(user_id, 10, expires_at=utcnow() + DAY)
    kept = lot(user_id, 10, "paid")
    spend = ledger.hold(user_id, "image", 6)
    assert draws_of(spend.spend_id) == [(lapsing, 6)]
    lapse(lapsing)

    assert ledger.balance(user_id) == ledger.Balance(credits=10, held=6, owed=0)
    if swept_first:
        assert [(e.lot_id, e.credits) for e in ledger.expire_lots()] == [(lapsing, 4)]
        assert ledger.balance(user_id) == ledger.Balance(credits=10, held=6, owed=0)
        assert db.session.get(CreditSpend, spend.spend_id).status == "held"
        assert_clean()

    assert ledger.release(spend.spend_id) is True

    # The 6 went back to their lot and expired at once: nothing spendable came back.
    assert ledger.balance(user_id) == ledger.Balance(credits=10, held=0, owed=0)
    assert stored_balance(user_id) == shown_credits(user_id) == 10
    assert remaining(lapsing, kept) == [0, 10]
    if swept_first:
        assert entries(lapsing) == [("expired", 4), ("expired", 6)]
        assert adjustments_of(user_id, "expired") == [(lapsing, -4), (lapsing, -6)]
    else:
        assert entries(lapsing) == [("expired", 10)]
        assert adjustments_of(user_id, "expired") == [(lapsing, -10)]
    assert ledger.expire_lots() == []
    assert_clean()


@pytest.mark.smoke
def test_the_part_of_a_capture_given_back_to_an_expired_lot_expires_at_once(make_user):
    user_id = make_user(credits=0)
    lapsing = lot(user_id, 10, expires_at=utcnow() + DAY)
    spend = ledger.hold(user_id, "metered", 8)
    lapse(lapsing)
    ledger.expire_lots()

    assert ledger.capture(spend.spend_id, charge=3) is True

    assert draws_of(spend.spend_id) == [(lapsing, 3)]
    assert entries(lapsing) == [("expired", 2), ("expired", 5)]
    assert ledger.balance(user_id) == ledger.Balance(credits=0, held=0, owed=0)
    assert stored_balance(user_id) == 0
    assert_clean()


def completed_purchase(user_id: int, credits: int, amount: int, session: str) -> tuple[int, int]:
    """A purchase credited through the ledger: (purchase id, its lot id)."""
    purchase_id = pending_purchase(user_id, credits, amount, session=session)
    assert ledger.complete_purchase(purchase_id, f"pi_{session}", amount, "usd") is True
    lot_id = db.session.execute(
        sa.select(CreditLot.id).where(CreditLot.purchase_id == purchase_id)
    ).scalar_one()
    return purchase_id, lot_id


@pytest.mark.smoke
def test_a_refund_of_a_partly_spent_pack_takes_its_own_lot_then_other_lots_then_owes(make_user):
    user_id = make_user(credits=0)
    bonus = lot(user_id, 100, "promotional")  # no expiry: drawn after the pack, which has one
    purchase_id, pack = completed_purchase(user_id, 500, 2000, "cs_pack")
    spend = ledger.hold(user_id, "image", 450)
    assert draws_of(spend.spend_id) == [(pack, 450)]
    ledger.capture(spend.spend_id)
    before = (ledger.balance(user_id), remaining(pack, bonus))
    assert before == (ledger.Balance(credits=150, held=0, owed=0), [50, 100])
    assert_clean()

    taken = ledger.claw_back_refund(purchase_id, 2000, "re_full")

    assert taken == 500
    # The pack's own 50, then the bonus's 100, the other 350 owed.
    assert entries(pack) == [("clawback", 50)]
    assert entries(bonus) == [("clawback", 100)]
    assert remaining(pack, bonus) == [0, 0]
    assert ledger.balance(user_id) == ledger.Balance(credits=-350, held=0, owed=350)
    assert shown_credits(user_id) == -350
    with pytest.raises(ledger.InsufficientCredits) as refused:
        ledger.hold(user_id, "image", 1)
    assert refused.value.balance == -350
    assert_clean()

    # The refund failed: Stripe holds nothing back any more. Owed first, then the lots.
    assert ledger.claw_back_refund(purchase_id, 0, "re_full") == -500

    assert (ledger.balance(user_id), remaining(pack, bonus)) == before
    assert entries(pack) == [("clawback", 50), ("clawback", -50)]
    assert entries(bonus) == [("clawback", 100), ("clawback", -100)]
    assert_clean()


@pytest.mark.smoke
def test_the_next_purchase_pays_what_is_owed_first_and_a_failed_refund_gives_it_back(make_user):
    user_id = make_user(credits=0)
    bonus = lot(user_id, 100, "promotional")
    purchase_id, pack = completed_purchase(user_id, 500, 2000, "cs_pack")
    ledger.capture(ledger.hold(user_id, "image", 450).spend_id)
    before = remaining(pack, bonus)
    assert ledger.claw_back_refund(purchase_id, 2000, "re_1") == 500
    assert ledger.balance(user_id) == ledger.Balance(credits=-350, held=0, owed=350)
    assert_clean()

    _, next_pack = completed_purchase(user_id, 500, 2000, "cs_next")

    assert remaining(next_pack) == [500 - 350]
    assert entries(next_pack) == [("owed", 350)]
    assert ledger.balance(user_id) == ledger.Balance(credits=150, held=0, owed=0)
    spend = ledger.hold(user_id, "image", 150)  # spending works again
    ledger.release(spend.spend_id)
    assert_clean()

    assert ledger.claw_back_refund(purchase_id, 0, "re_1") == -500

    # Back where it was before the refund, plus the whole next pack.
    assert remaining(pack, bonus, next_pack) == [*before, 500]
    assert ledger.balance(user_id) == ledger.Balance(credits=650, held=0, owed=0)
    assert entries(next_pack) == [("owed", 350), ("owed", -350)]
    assert_clean()


@pytest.mark.smoke
def test_a_partial_refund_takes_only_its_share_and_a_later_full_refund_takes_the_rest(make_user):
    user_id = make_user(credits=0)
    bonus = lot(user_id, 100, "promotional")
    purchase_id, pack = completed_purchase(user_id, 500, 2000, "cs_pack")
    ledger.capture(ledger.hold(user_id, "image", 450).spend_id)

    assert ledger.claw_back_refund(purchase_id, 800, "re_1") == 200  # 40 % of 500
    assert remaining(pack, bonus) == [0, 0]
    assert ledger.balance(user_id) == ledger.Balance(credits=-50, held=0, owed=50)
    assert_clean()

    assert ledger.claw_back_refund(purchase_id, 2000, "re_1") == 300
    assert ledger.balance(user_id) == ledger.Balance(credits=-350, held=0, owed=350)
    assert_clean()

    assert ledger.claw_back_refund(purchase_id, 800, "re_1") == -300  # back to the partial refund
    assert ledger.balance(user_id) == ledger.Balance(credits=-50, held=0, owed=50)
    assert remaining(pack, bonus) == [0, 0]
    assert_clean()


@pytest.mark.smoke
def test_giving_back_a_clawback_to_a_lot_that_expired_meanwhile_expires_it_at_once(make_user):
    user_id = make_user(credits=0)
    bonus = lot(user_id, 100, "promotional", expires_at=utcnow() + 400 * DAY)  # after the pack
    purchase_id, pack = completed_purchase(user_id, 500, 2000, "cs_pack")
    ledger.capture(ledger.hold(user_id, "image", 450).spend_id)
    ledger.claw_back_refund(purchase_id, 2000, "re_1")
    assert entries(bonus) == [("clawback", 100)]
    lapse(bonus)
    assert_clean()

    assert ledger.claw_back_refund(purchase_id, 0, "re_1") == -500

    # Owed 350 cleared, the bonus's 100 came back and expired at once, the pack's 50 came back.
    assert entries(bonus) == [("clawback", 100), ("clawback", -100), ("expired", 100)]
    assert remaining(pack, bonus) == [50, 0]
    assert ledger.balance(user_id) == ledger.Balance(credits=50, held=0, owed=0)
    assert stored_balance(user_id) == 50
    assert ledger.expire_lots() == []
    assert_clean()


@pytest.mark.smoke
def test_voiding_a_lot_keeps_its_held_credits_held_and_voids_them_when_released(make_user):
    user_id = make_user(credits=0)
    voided = lot(user_id, 20, priority=0)
    kept = lot(user_id, 10, "paid")
    released = ledger.hold(user_id, "image", 6)
    captured = ledger.hold(user_id, "image", 3)
    assert draws_of(released.spend_id) == [(voided, 6)]
    assert draws_of(captured.spend_id) == [(voided, 3)]

    assert ledger.void_lot(voided, "granted by mistake") == 11

    assert remaining(voided, kept) == [0, 10]
    assert entries(voided) == [("voided", 11)]
    assert adjustments_of(user_id, "voided") == [(voided, -11)]
    assert ledger.balance(user_id) == ledger.Balance(credits=10, held=9, owed=0)
    assert ledger.void_lot(voided, "again") == 0  # voiding twice changes nothing
    assert [lv.state for lv in ledger.lots_of(user_id)] == ["live", "voided"]
    assert_clean()

    assert ledger.capture(captured.spend_id) is True  # credits already held stay spent
    assert ledger.release(released.spend_id) is True

    assert remaining(voided, kept) == [0, 10]
    assert entries(voided) == [("voided", 11), ("voided", 6)]
    assert ledger.balance(user_id) == ledger.Balance(credits=10, held=0, owed=0)
    assert stored_balance(user_id) == 10
    spend = ledger.hold(user_id, "image", 10)  # what is left comes from the other lot only
    assert draws_of(spend.spend_id) == [(kept, 10)]
    assert_clean()


@pytest.mark.smoke
def test_voiding_needs_a_reason_and_a_lot_that_exists(make_user):
    user_id = make_user(credits=0)
    lot_id = lot(user_id, 10)

    with pytest.raises(ledger.InvalidAmount):
        ledger.void_lot(lot_id, "  ")
    with pytest.raises(ledger.UnknownLot):
        ledger.void_lot(lot_id + 1000, "no such lot")
    assert remaining(lot_id) == [10]
    assert_clean()


@pytest.mark.smoke
def test_a_capture_of_nothing_used_gives_every_draw_back(make_user):
    user_id = make_user(credits=0)
    early, late = lot(user_id, 5, priority=10), lot(user_id, 20)
    spend = ledger.hold(user_id, "metered", 8)

    assert ledger.capture(spend.spend_id, charge=0) is True

    assert remaining(early, late) == [5, 20]
    assert db.session.get(CreditSpend, spend.spend_id).status == "released"
    assert ledger.balance(user_id) == ledger.Balance(credits=25, held=0, owed=0)
    assert ledger.capture(spend.spend_id, charge=0) is False
    assert_clean()
