"""`flask credits grant|lots|void-lot|expire|balance` with lots: readable lines, the lots and
entries they write, and bad input refused on stderr with nothing written."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditLot, CreditLotEntry, CreditPurchase, Notification, utcnow

LOT_LINE = re.compile(r"^lot (\d+): ")


def lots(user_id: int) -> list[CreditLot]:
    """The user's lots, oldest first, read afresh."""
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(CreditLot)
            .where(CreditLot.wallet_id == ledger.reading.personal_wallet(user_id))
            .order_by(CreditLot.id)
            .execution_options(populate_existing=True)
        )
    )


def adjustments(user_id: int, reason: str) -> list[CreditAdjustment]:
    db.session.rollback()
    query = sa.select(CreditAdjustment).where(
        CreditAdjustment.user_id == user_id, CreditAdjustment.reason == reason
    )
    return list(db.session.scalars(query.order_by(CreditAdjustment.id)))


def lapse(lot_id: int) -> None:
    """Test setup: move a lot's expiry a second into the past (no sweep has run yet)."""
    db.session.execute(
        sa.update(CreditLot).where(CreditLot.id == lot_id).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def grant(runner, *args: str):
    return runner.invoke(args=["credits", "grant", *args])


def test_grant_makes_a_lot_with_the_chosen_category_priority_and_expiry_and_prints_its_id(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=500)

    result = grant(
        runner,
        "ada@example.com",
        "120",
        "--reason",
        "conference voucher",
        "--category",
        "paid",
        "--priority",
        "10",
        "--expires-in-days",
        "30",
    )

    assert result.exit_code == 0, result.output
    lot_id = int(LOT_LINE.match(result.output).group(1))
    assert "+120 credits (conference voucher), paid, priority 10, expires 20" in result.output
    assert result.output.rstrip().endswith("balance now 620")
    lot = db.session.get(CreditLot, lot_id)
    assert (lot.source, lot.category, lot.priority, lot.amount, lot.remaining, lot.reason) == (
        "grant",
        "paid",
        10,
        120,
        120,
        "conference voucher",
    )
    expires = lot.expires_at.replace(tzinfo=lot.expires_at.tzinfo or UTC)
    assert abs(expires - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert ledger.balance(user_id).credits == 620


def test_grant_with_an_expiry_date_reads_it_as_utc_and_defaults_to_a_promotional_lot(runner, make_user):
    make_user(email="ada@example.com", credits=500)
    when = (utcnow() + timedelta(days=10)).replace(microsecond=0, tzinfo=None)

    result = grant(runner, "ada@example.com", "40", "--reason", "sorry", "--expires-at", when.isoformat())

    assert result.exit_code == 0, result.output
    lot = db.session.get(CreditLot, int(LOT_LINE.match(result.output).group(1)))
    assert (lot.category, lot.priority) == ("promotional", 50)
    assert lot.expires_at.replace(tzinfo=lot.expires_at.tzinfo or UTC) == when.replace(tzinfo=UTC)
    assert f"expires {when:%Y-%m-%d %H:%M} UTC" in result.output


def test_grant_without_an_expiry_never_expires_and_a_debit_still_prints_the_balance(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=500)

    added = grant(runner, "ada@example.com", "25", "--reason", "goodwill")
    taken = grant(runner, "ada@example.com", "-5", "--reason", "typo")

    assert added.exit_code == 0 and "expires never" in added.output
    assert (
        taken.exit_code == 0 and taken.output.strip() == "ada@example.com: -5 credits (typo); balance now 520"
    )
    assert ledger.balance(user_id).credits == 520
    assert len(lots(user_id)) == 2  # the signup bonus and the grant: a debit makes no lot


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["7", "--reason", "x", "--expires-in-days", "3", "--expires-at", "2099-01-01"],
            "mutually exclusive",
        ),
        (["7", "--reason", "x", "--expires-at", "next tuesday"], "not an ISO-8601 date"),
        (["7", "--reason", "x", "--expires-at", "2001-01-01"], "the expiry must be in the future"),
        (["7", "--reason", "x", "--expires-in-days", "0"], "--expires-in-days"),
        (["7", "--reason", "x", "--category", "free"], "--category"),
        (["7", "--reason", "x", "--priority", "101"], "--priority"),
        (["-7", "--reason", "x", "--expires-in-days", "3"], "a negative AMOUNT"),
        (["-7", "--reason", "x", "--category", "paid"], "a negative AMOUNT"),
        (["7", "--reason", " "], "needs a reason"),
    ],
    ids=[
        "both-expiries",
        "bad-date",
        "past-date",
        "zero-days",
        "bad-category",
        "priority-over-100",
        "debit-with-expiry",
        "debit-with-category",
        "blank-reason",
    ],
)
def test_bad_grants_fail_on_stderr_and_write_nothing(runner, make_user, args, says):
    user_id = make_user(email="ada@example.com", credits=500)
    before = [(lot.id, lot.remaining) for lot in lots(user_id)]

    result = grant(runner, "ada@example.com", *args)

    assert result.exit_code != 0
    assert says in result.stderr
    assert result.stdout == ""
    assert [(lot.id, lot.remaining) for lot in lots(user_id)] == before
    assert adjustments(user_id, "admin") == []
    assert ledger.balance(user_id).credits == 500


def test_lots_lists_each_lot_with_what_is_left_its_expiry_and_how_it_ended(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=500)
    [bonus] = lots(user_id)
    kept = ledger.grant(user_id, 100, note="kept", category="paid", priority=20).lot_id
    voided = ledger.grant(user_id, 50, note="mistake", expires_at=utcnow() + timedelta(days=3)).lot_id
    ledger.void_lot(voided, "sent by mistake")
    ledger.capture(ledger.hold(user_id, "image", 30).spend_id)  # from the priority 20 lot first
    lapse(bonus.id)

    result = runner.invoke(args=["credits", "lots", "ADA@example.com"])

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [int(line.split()[1]) for line in lines] == [voided, kept, bonus.id]  # newest first
    assert lines[0].startswith(f"lot {voided}  grant  promotional  priority 50  0/50  expires 20")
    assert lines[0].endswith("  voided")
    assert lines[1] == f"lot {kept}  grant  paid  priority 20  70/100  expires never"
    assert lines[2].startswith(f"lot {bonus.id}  signup_bonus  promotional  priority 50  0/500  expires 20")
    assert lines[2].endswith("  expired")  # its expiry passed: ended, sweep or not


def test_lots_of_a_user_without_any_and_of_an_unknown_user(runner, make_user):
    make_user(email="nobonus@example.com", credits=0)

    empty = runner.invoke(args=["credits", "lots", "nobonus@example.com"])
    unknown = runner.invoke(args=["credits", "lots", "nobody@example.com"])

    assert empty.exit_code == 0 and empty.output.strip() == "nobonus@example.com: no lots"
    assert unknown.exit_code == 1 and "no user with e-mail nobody@example.com" in unknown.stderr


def test_void_lot_takes_out_what_is_left_with_its_reason_and_keeps_held_credits_held(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=0)
    lot_id = ledger.grant(user_id, 100, note="promo").lot_id
    held = ledger.hold(user_id, "image", 30)

    voided = runner.invoke(args=["credits", "void-lot", str(lot_id), "--reason", "fraud"])
    again = runner.invoke(args=["credits", "void-lot", str(lot_id), "--reason", "fraud"])

    assert (
        voided.exit_code == 0
        and voided.output.strip() == f"voided lot {lot_id}: 70 credits taken out (fraud)"
    )
    assert again.exit_code == 0 and "no credits left" in again.output
    [entry] = adjustments(user_id, "voided")
    assert (entry.amount, entry.lot_id, entry.note) == (-70, lot_id, "fraud")
    assert ledger.balance(user_id) == ledger.Balance(credits=0, held=30)
    ledger.capture(held.spend_id)  # the held credits were never voided: the spend still pays
    assert ledger.audit() == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["999999", "--reason", "x"], "no lot 999999"),
        (["LOT", "--reason", "x"], "LOT_ID"),
        (["{lot}", "--reason", " "], "needs a reason"),
        (["{lot}"], "--reason"),
    ],
    ids=["unknown-lot", "not-a-number", "blank-reason", "no-reason"],
)
def test_bad_void_lot_input_fails_on_stderr_and_voids_nothing(runner, make_user, args, says):
    user_id = make_user(email="ada@example.com", credits=500)
    [bonus] = lots(user_id)

    result = runner.invoke(args=["credits", "void-lot", *[a.format(lot=bonus.id) for a in args]])

    assert result.exit_code != 0 and says in result.stderr
    assert lots(user_id)[0].voided_at is None and lots(user_id)[0].remaining == 500
    assert adjustments(user_id, "voided") == []


def test_expire_writes_each_lapsed_lot_once_and_the_notices_of_lots_expiring_soon(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=500)
    [bonus] = lots(user_id)
    soon = ledger.grant(user_id, 80, note="soon", expires_at=utcnow() + timedelta(days=3)).lot_id
    ledger.grant(user_id, 60, note="later", expires_at=utcnow() + timedelta(days=60))
    ledger.capture(ledger.hold(user_id, "image", 20).spend_id)  # from the lot expiring soonest: `soon`
    lapse(bonus.id)
    assert ledger.balance(user_id).credits == 120  # the lapsed bonus stopped counting already

    first = runner.invoke(args=["credits", "expire"])
    second = runner.invoke(args=["credits", "expire"])

    assert first.exit_code == 0, first.output
    wallet = lots(user_id)[0].wallet_id
    assert first.output.splitlines() == [
        f"expired lot {bonus.id} of wallet {wallet}: 500 credits",
        "expired 1 lot(s), 500 credits; 1 expiry notice(s) written (lots expiring within 7 days)",
    ]
    assert second.output.splitlines() == [
        "expired 0 lot(s), 0 credits; 0 expiry notice(s) written (lots expiring within 7 days)"
    ]
    [entry] = adjustments(user_id, "expired")
    assert (entry.amount, entry.lot_id) == (-500, bonus.id)
    assert db.session.scalars(
        sa.select(CreditLotEntry.kind).where(CreditLotEntry.lot_id == bonus.id)
    ).all() == ["expired"]
    [notice] = db.session.scalars(sa.select(Notification)).all()
    assert notice.kind == "lot_expiring" and notice.payload["lot_id"] == soon
    assert notice.payload["credits"] == 60 and notice.payload["amount"] == 80
    assert ledger.balance(user_id).credits == 120
    assert ledger.audit() == []


def test_the_jobs_sweep_says_what_expired(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=500)
    [bonus] = lots(user_id)
    lapse(bonus.id)

    swept = runner.invoke(args=["jobs", "sweep"])

    assert swept.exit_code == 0, swept.output
    assert f"expired lot {bonus.id} of wallet {bonus.wallet_id}: 500 credits" in swept.output
    assert "sweep: 1 lot(s) expired (500 credits), 0 expiry notice(s) written" in swept.output


def test_balance_prints_what_is_owed_after_a_clawback_no_lot_could_cover(runner, make_user):
    user_id = make_user(email="ada@example.com", credits=0)
    purchase = CreditPurchase(
        user_id=user_id, stripe_price_id="price_test", credits_purchased=100, amount_paid=500, currency="usd"
    )
    db.session.add(purchase)
    db.session.commit()
    ledger.complete_purchase(purchase.id, "pi_owed", 500, "usd")
    ledger.capture(ledger.hold(user_id, "image", 70).spend_id)
    ledger.hold(user_id, "image", 10)

    ledger.claw_back_refund(purchase.id, 500, "re_owed")  # 20 left in the lot, 80 owed
    result = runner.invoke(args=["credits", "balance", "ada@example.com"])

    assert result.exit_code == 0
    assert result.output.strip() == "ada@example.com: -80 credits (10 on hold, 80 owed)"
    assert ledger.balance(user_id) == ledger.Balance(credits=-80, held=10, owed=80)
    assert ledger.audit() == []


def test_balance_says_nothing_of_owed_when_nothing_is_owed(runner, make_user):
    make_user(email="ada@example.com", credits=500)

    result = runner.invoke(args=["credits", "balance", "ada@example.com"])

    assert result.output.strip() == "ada@example.com: 500 credits"
