"""Staff actions: a reason, a confirmation, once only, through the ledger; bad input writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.accounts import api_keys
from creditapp.extensions import db
from creditapp.models import AdminAction, CreditAdjustment, CreditLot, User


def trail_count() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(AdminAction)).scalar_one()


def adjustments(user_id: int) -> list:
    return (
        db.session.execute(
            sa.select(CreditAdjustment).where(
                CreditAdjustment.user_id == user_id, CreditAdjustment.reason == "admin"
            )
        )
        .scalars()
        .all()
    )


def in_a_week() -> str:
    return (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")


@pytest.mark.smoke
def test_a_grant_asks_to_confirm_then_acts_once_even_when_confirmed_twice(act, customer, staff):
    first, second = act(
        customer,
        "grant",
        confirm_twice=True,
        amount="250",
        reason="Sorry for the outage",
        category="paid",
        priority="10",
        expires_on=in_a_week(),
    )

    assert "Confirm: Grant 250 paid credits at priority 10" in first.get_data(as_text=True)
    assert second.status_code == 200
    assert "acted once" in second.get_data(as_text=True)
    assert ledger.balance(customer).credits == 750
    [grant] = adjustments(customer)
    assert grant.admin_user_id == staff and grant.note == "Sorry for the outage"
    lot = db.session.get(CreditLot, grant.lot_id)
    assert (lot.category, lot.priority, lot.granted_by) == ("paid", 10, staff)
    assert lot.expires_at is not None
    [action] = db.session.execute(sa.select(AdminAction)).scalars().all()
    assert (action.action, action.actor_user_id, action.customer_user_id) == ("grant", staff, customer)
    assert action.parameters["amount"] == 250 and action.reason == "Sorry for the outage"
    assert action.outcome.startswith("Granted 250 credits")


def test_the_first_post_alone_changes_nothing(staff_client, customer):
    from tests.staff.conftest import csrf_token

    response = staff_client.post(
        f"/admin/customers/{customer}/actions/grant",
        data={"csrf_token": csrf_token(staff_client), "amount": "5", "reason": "x"},
    )
    assert response.status_code == 200
    assert ledger.balance(customer).credits == 500 and trail_count() == 0


def test_a_granted_lot_with_a_low_priority_is_spent_first(act, customer):
    act(customer, "grant", amount="100", reason="Goodwill", priority="0", expires_on=in_a_week())
    spent = ledger.hold(customer, "test", 60)
    granted = db.session.execute(sa.select(CreditLot).where(CreditLot.source == "grant")).scalar_one()
    db.session.refresh(granted)
    assert spent and granted.remaining == 40


def test_bad_grants_get_a_clear_error_and_write_nothing(act, customer):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    cases = [
        ({"amount": "-5", "reason": "x"}, "The amount must be from 1"),
        ({"amount": "0", "reason": "x"}, "The amount must be from 1"),
        ({"amount": "lots", "reason": "x"}, "whole number"),
        ({"amount": "5", "reason": "  "}, "Give a reason"),
        ({"amount": "5"}, "Give a reason"),
        ({"amount": "5", "reason": "x", "expires_on": yesterday}, "The expiry must be in the future"),
        ({"amount": "5", "reason": "x", "priority": "101"}, "The priority must be from 0"),
        ({"amount": "5", "reason": "x", "category": "gold"}, "paid or promotional"),
    ]
    for form, message in cases:
        first, second = act(customer, "grant", **form)
        assert second is None, form
        assert 400 <= first.status_code < 500, form
        assert message in first.get_data(as_text=True), form
    assert ledger.balance(customer).credits == 500
    assert adjustments(customer) == [] and trail_count() == 0


def test_taking_credits_back_debits_once(act, customer, staff):
    act(customer, "take_back", confirm_twice=True, amount="120", reason="Granted by mistake")
    assert ledger.balance(customer).credits == 380
    [debit] = adjustments(customer)
    assert debit.amount == -120 and debit.admin_user_id == staff
    assert trail_count() == 1


def test_taking_back_more_than_the_balance_is_refused(act, customer):
    first, second = act(customer, "take_back", amount="501", reason="x")
    assert second is None and first.status_code == 422
    assert ledger.balance(customer).credits == 500 and trail_count() == 0


@pytest.mark.smoke
def test_voiding_a_lot_takes_its_credits_out_at_once_and_once(act, customer, staff):
    [lot] = ledger.lots_of(customer)
    act(customer, "void_lot", confirm_twice=True, lot_id=str(lot.id), reason="Fraudulent signup")
    assert ledger.balance(customer).credits == 0
    voided = db.session.get(CreditLot, lot.id)
    assert voided.voided_at is not None
    entry = db.session.execute(
        sa.select(CreditAdjustment).where(CreditAdjustment.reason == "voided")
    ).scalar_one()
    assert entry.admin_user_id == staff
    assert trail_count() == 1


def test_someone_elses_lot_is_refused_and_nothing_is_written(act, customer, make_user):
    other = make_user("other@example.com")
    [lot] = ledger.lots_of(other)
    first, second = act(customer, "void_lot", lot_id=str(lot.id), reason="x")
    assert second is None and first.status_code == 404
    assert "no lot" in first.get_data(as_text=True)
    assert ledger.balance(other).credits == 500 and trail_count() == 0


def test_releasing_a_stuck_hold_gives_the_credits_back_once(act, customer):
    held = ledger.hold(customer, "test", 70)
    assert ledger.balance(customer).credits == 430
    act(customer, "release_hold", confirm_twice=True, spend_id=str(held.spend_id), reason="Stuck job")
    assert ledger.balance(customer).credits == 500
    assert trail_count() == 1


def test_revoking_a_key_revokes_it_once(act, customer):
    created = api_keys.create_key(customer, "ci", ["read"], None)
    key_id = api_keys.list_keys(customer)[0].id
    first, second = act(customer, "revoke_key", confirm_twice=True, key_id=str(key_id), reason="Key leaked")
    assert second.status_code == 200
    assert api_keys.authenticate(created.token) is None
    assert trail_count() == 1


def test_someone_elses_key_is_refused(act, customer, make_user):
    other = make_user("other@example.com")
    api_keys.create_key(other, "theirs", ["read"], None)
    key_id = api_keys.list_keys(other)[0].id
    first, second = act(customer, "revoke_key", key_id=str(key_id), reason="x")
    assert second is None and first.status_code == 404
    assert api_keys.list_keys(other)[0].revoked_at is None and trail_count() == 0


def test_signing_a_customer_out_everywhere_raises_their_auth_version_once(act, customer):
    act(customer, "sign_out_everywhere", confirm_twice=True, reason="Account takeover")
    assert db.session.execute(sa.select(User.auth_version).where(User.id == customer)).scalar_one() == 1
    assert trail_count() == 1


def test_switching_a_top_up_off_when_it_is_off_is_refused(act, customer):
    first, second = act(customer, "switch_topup_off", reason="x")
    assert second is None and first.status_code == 422 and trail_count() == 0


def test_canceling_a_queued_job_gives_its_credits_back_once(app, act, make_user, sign_in_as):
    from tests.support.jobs import run_queued
    from tests.support.spending import csrf_token, post_json

    user_id = make_user("jobs@example.com")
    client = sign_in_as(app.test_client(), user_id)
    job_id = post_json(client, csrf_token(client), {"prompt": "a fox", "size": 256}).get_json()["id"]
    assert ledger.balance(user_id).credits == 495

    first, second = act(user_id, "cancel_job", confirm_twice=True, job_id=job_id, reason="Customer asked")
    run_queued(app)

    assert "Canceled job" in second.get_data(as_text=True)
    assert ledger.balance(user_id).credits == 500
    assert trail_count() == 1


def test_a_token_performed_already_acts_no_more_even_if_the_first_check_missed_it(app, customer, staff):
    from creditapp.staff import trail

    asked = trail.Request(
        "grant", staff, customer, "user", str(customer), {"amount": 5}, "race", "same-token"
    )
    calls = []

    def grant() -> str:
        calls.append(1)
        return ledger.grant(customer, 5, "race", admin_user_id=staff) and "Granted 5"

    first, acted_first = trail.perform(asked, grant, joined=True)
    second, acted_second = trail.perform(asked, grant, joined=True)  # as a concurrent double submit would

    assert (acted_first, acted_second) == (True, False) and len(calls) == 1
    assert second.id == first.id and ledger.balance(customer).credits == 505
    assert trail_count() == 1


def test_eight_concurrent_confirmations_of_one_token_act_once(app, customer, staff):
    from creditapp.staff import trail
    from tests.support.threads import race

    def confirm(i: int):
        asked = trail.Request(
            "grant", staff, customer, "user", str(customer), {"amount": 25}, "race", "raced-token"
        )
        return trail.perform(
            asked, lambda: f"{ledger.grant(customer, 25, 'race', admin_user_id=staff)}", joined=True
        )

    outcomes = race(app, confirm, 8)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(acted for _, acted in outcomes) == [False] * 7 + [True]
    assert ledger.balance(customer).credits == 525
    assert len(adjustments(customer)) == 1 and trail_count() == 1


def test_eight_concurrent_confirmations_of_a_claimed_action_act_once(app, customer, staff):
    from creditapp.staff import trail
    from tests.support.threads import race

    held = ledger.hold(customer, "test", 70)
    calls = []

    def release() -> str:
        calls.append(ledger.release(held.spend_id))
        return "released"

    def confirm(i: int):
        asked = trail.Request(
            "release_hold", staff, customer, "spend", str(held.spend_id), {}, "race", "raced-claim"
        )
        return trail.perform(asked, release, joined=False)

    outcomes = race(app, confirm, 8)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(acted for _, acted in outcomes) == [False] * 7 + [True]
    assert calls == [True] and ledger.balance(customer).credits == 500 and trail_count() == 1


def test_switching_a_top_up_off_keeps_the_card_and_says_why_once(act, customer):
    from creditapp.models import AutoRechargeSettings
    from creditapp.topups import settings as topups

    db.session.add(
        AutoRechargeSettings(
            user_id=customer,
            enabled=True,
            threshold=100,
            stripe_price_id="price_x",
            pack_credits=500,
            pack_amount=2000,
            currency="usd",
            monthly_cap=3,
            payment_method_id="pm_card",
            card_brand="visa",
            card_last4="4242",
        )
    )
    db.session.commit()

    act(customer, "switch_topup_off", confirm_twice=True, reason="Card disputes")

    now = topups.settings_for(customer)
    assert not now.enabled and now.disabled_reason == "Switched off by support."
    assert now.card_last4 == "4242"
    assert trail_count() == 1


def test_a_confirmation_changed_after_it_was_shown_or_made_up_acts_not(staff_client, customer):
    from tests.staff.conftest import TOKEN, csrf_token

    csrf = csrf_token(staff_client)
    url = f"/admin/customers/{customer}/actions/grant"
    shown = staff_client.post(url, data={"csrf_token": csrf, "amount": "10", "reason": "Goodwill"})
    token = TOKEN.search(shown.get_data(as_text=True)).group(1)

    changed = staff_client.post(
        url, data={"csrf_token": csrf, "token": token, "amount": "10000", "reason": "Goodwill"}
    )
    made_up = staff_client.post(
        url, data={"csrf_token": csrf, "token": "mine.x", "amount": "10", "reason": "Goodwill"}
    )
    elsewhere = staff_client.post(
        f"/admin/customers/{customer}/actions/take_back",
        data={"csrf_token": csrf, "token": token, "amount": "10", "reason": "Goodwill"},
    )

    assert (changed.status_code, made_up.status_code, elsewhere.status_code) == (409, 409, 409)
    assert "start again" in changed.get_data(as_text=True)
    assert ledger.balance(customer).credits == 500 and trail_count() == 0


def test_a_token_used_for_one_action_is_refused_for_another(act, staff_client, customer):
    from tests.staff.conftest import TOKEN, csrf_token

    csrf = csrf_token(staff_client)
    url = f"/admin/customers/{customer}/actions/grant"
    shown = staff_client.post(url, data={"csrf_token": csrf, "amount": "10", "reason": "Goodwill"})
    token = TOKEN.search(shown.get_data(as_text=True)).group(1)
    staff_client.post(url, data={"csrf_token": csrf, "token": token, "amount": "10", "reason": "Goodwill"})

    other = staff_client.post(
        f"/admin/customers/{customer}/actions/take_back",
        data={"csrf_token": csrf, "token": token, "amount": "10", "reason": "Goodwill"},
    )

    assert other.status_code == 409 and "another action" in other.get_data(as_text=True)
    assert ledger.balance(customer).credits == 510 and trail_count() == 1
