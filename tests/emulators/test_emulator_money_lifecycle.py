"""Refunds and disputes through their whole life, with the events Stripe sends for each step."""

from __future__ import annotations

import pytest
import stripe

from tests.support.emulator import EmulatorError


def _paid_charge(emulator, stripe_client, create_session, pack: str = "credits_500") -> stripe.Charge:
    intent_id = emulator.pay(create_session(pack).id)["session"]["payment_intent"]
    return stripe_client.v1.charges.retrieve(
        stripe_client.v1.payment_intents.retrieve(intent_id).latest_charge
    )


def _types(webhook_receiver, count: int) -> list[str]:
    return [d.event_type for d in webhook_receiver.wait_for(lambda d: True, count=count)]


def test_a_partial_refund_sends_refund_created_and_charge_refunded(
    emulator, stripe_client, webhook_receiver, create_session
):
    charge = _paid_charge(emulator, stripe_client, create_session)

    refund = stripe_client.v1.refunds.create(params={"payment_intent": charge.payment_intent, "amount": 800})

    assert (refund.status, refund.amount, refund.charge) == ("succeeded", 800, charge.id)
    assert _types(webhook_receiver, 3) == ["checkout.session.completed", "refund.created", "charge.refunded"]
    refunded = webhook_receiver.of_type("charge.refunded")[0].event().data.object
    assert (refunded.amount_refunded, refunded.refunded) == (800, False)
    assert "refunds" not in refunded  # Stripe stopped embedding them in API 2022-11-15


def test_a_failed_refund_gives_its_amount_back_to_the_charge(
    emulator, stripe_client, webhook_receiver, create_session
):
    charge = _paid_charge(emulator, stripe_client, create_session)
    refund = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 800})

    failed = emulator.fail_refund(refund.id)

    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    assert failed["failure_balance_transaction"].startswith("txn_")
    after = stripe_client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (0, False)
    assert _types(webhook_receiver, 6)[3:] == ["refund.updated", "refund.failed", "charge.refund.updated"]
    updated = webhook_receiver.of_type("refund.updated")[0].event()
    assert updated.data.object.status == "failed" and updated.data.previous_attributes.status == "succeeded"
    # The amount is refundable again: a later real refund of $4 goes through.
    again = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 400})
    assert stripe_client.v1.charges.retrieve(charge.id).amount_refunded == 400 and again.status == "succeeded"


def test_a_refund_fails_once_and_a_refund_of_the_whole_charge_is_still_capped(
    emulator, stripe_client, create_session
):
    charge = _paid_charge(emulator, stripe_client, create_session)
    refund = stripe_client.v1.refunds.create(params={"charge": charge.id})
    emulator.fail_refund(refund.id, "lost_or_stolen_card")

    with pytest.raises(EmulatorError):
        emulator.fail_refund(refund.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 2001})
    assert caught.value.code == "amount_too_large"


def test_pending_refunds_count_until_they_succeed_or_are_canceled(
    emulator, stripe_client, webhook_receiver, create_session
):
    charge = _paid_charge(emulator, stripe_client, create_session)
    emulator.configure(new_refund_status="pending")
    first = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 500})
    second = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 300})
    assert (first.status, stripe_client.v1.charges.retrieve(charge.id).amount_refunded) == ("pending", 800)

    assert emulator.succeed_refund(first.id)["status"] == "succeeded"
    assert emulator.cancel_refund(second.id)["status"] == "canceled"

    assert stripe_client.v1.charges.retrieve(charge.id).amount_refunded == 500
    assert _types(webhook_receiver, 9)[5:] == [
        "refund.updated",
        "charge.refund.updated",
        "refund.updated",
        "charge.refund.updated",
    ]
    with pytest.raises(EmulatorError):
        emulator.cancel_refund(first.id)


def test_a_chargeback_withdraws_the_unrefunded_amount_and_a_won_one_reinstates_it(
    emulator, stripe_client, webhook_receiver, create_session
):
    charge = _paid_charge(emulator, stripe_client, create_session)
    stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 500})

    dispute = emulator.dispute(charge.id)

    assert (dispute["status"], dispute["amount"]) == ("needs_response", 1500)
    [withdrawal] = dispute["balance_transactions"]
    assert (withdrawal["amount"], withdrawal["fee"], withdrawal["reporting_category"]) == (
        -1500,
        1500,
        "dispute",
    )
    assert withdrawal["net"] == -3000 and withdrawal["source"] == dispute["id"]
    assert stripe_client.v1.charges.retrieve(charge.id).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert caught.value.code == "charge_disputed"

    won = emulator.close_dispute(dispute["id"], "won")

    assert won["status"] == "won" and [t["amount"] for t in won["balance_transactions"]] == [-1500, 1500]
    assert _types(webhook_receiver, 7)[3:] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]


def test_an_inquiry_moves_no_money_until_it_escalates_and_is_lost(
    emulator, stripe_client, webhook_receiver, create_session
):
    charge = _paid_charge(emulator, stripe_client, create_session)

    inquiry = emulator.inquiry(charge.id)
    assert (inquiry["status"], inquiry["balance_transactions"]) == ("warning_needs_response", [])
    assert inquiry["is_charge_refundable"] is True
    with pytest.raises(EmulatorError):
        emulator.close_dispute(inquiry["id"], "lost")  # an inquiry escalates first

    escalated = emulator.escalate_dispute(inquiry["id"])
    assert escalated["status"] == "needs_response" and len(escalated["balance_transactions"]) == 1
    lost = emulator.close_dispute(inquiry["id"], "lost")

    assert lost["status"] == "lost" and len(lost["balance_transactions"]) == 1
    assert _types(webhook_receiver, 5)[1:] == [
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]
    updated = webhook_receiver.of_type("charge.dispute.updated")[0].event()
    assert updated.data.previous_attributes.status == "warning_needs_response"


def test_an_inquiry_closed_as_a_warning_leaves_room_for_a_later_chargeback(
    emulator, stripe_client, webhook_receiver, create_session
):
    charge = _paid_charge(emulator, stripe_client, create_session)
    inquiry = emulator.inquiry(charge.id, amount=1000)
    with pytest.raises(EmulatorError):
        emulator.dispute(charge.id)  # one open dispute per charge
    with pytest.raises(EmulatorError):
        emulator.close_dispute(inquiry["id"], "won")

    closed = emulator.close_dispute(inquiry["id"], "warning_closed")
    chargeback = emulator.dispute(charge.id, reason="product_not_received")

    assert closed["status"] == "warning_closed" and closed["balance_transactions"] == []
    assert (chargeback["status"], chargeback["amount"], chargeback["reason"]) == (
        "needs_response",
        2000,
        "product_not_received",
    )
    assert _types(webhook_receiver, 5)[1:] == [
        "charge.dispute.created",
        "charge.dispute.closed",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]


def test_accepting_a_dispute_through_the_api_loses_it(emulator, stripe_client, create_session):
    charge = _paid_charge(emulator, stripe_client, create_session)
    dispute = emulator.dispute(charge.id, amount=700)

    accepted = stripe_client.v1.disputes.close(dispute["id"])

    assert isinstance(accepted, stripe.Dispute) and accepted.status == "lost"
    assert accepted.evidence.uncategorized_text is None and accepted.evidence_details.submission_count == 0


@pytest.mark.parametrize(
    ("body", "param"),
    [({"amount": 2001}, "amount"), ({"amount": "x"}, "amount"), ({"reason": "bored"}, "reason"),
     ({"inquiry": "yes"}, "inquiry"), ({"bogus": 1}, "bogus")],
)  # fmt: skip
def test_dispute_control_refuses_bad_input(emulator, stripe_client, create_session, body, param):
    charge = _paid_charge(emulator, stripe_client, create_session)

    answer = emulator.http.post(f"{emulator.base_url}/_emulator/charges/{charge.id}/dispute", json=body)

    assert answer.status_code == 400 and answer.json()["error"]["param"] == param
    assert stripe_client.v1.disputes.list().data == []


def test_refund_and_dispute_lists_filter_by_charge_and_intent_and_page(
    emulator, stripe_client, create_session
):
    first = _paid_charge(emulator, stripe_client, create_session)
    other = _paid_charge(emulator, stripe_client, create_session)
    made = [stripe_client.v1.refunds.create(params={"charge": first.id, "amount": 100}) for _ in range(3)]
    stripe_client.v1.refunds.create(params={"charge": other.id, "amount": 100})
    emulator.dispute(other.id)

    page = stripe_client.v1.refunds.list(params={"charge": first.id, "limit": 2})
    every = [r.id for r in page.auto_paging_iter()]
    by_intent = stripe_client.v1.refunds.list(params={"payment_intent": other.payment_intent})

    assert page.has_more is True and len(page.data) == 2
    assert every == [r.id for r in reversed(made)]
    assert [r.charge for r in by_intent.data] == [other.id]
    assert [d.charge for d in stripe_client.v1.disputes.list(params={"charge": other.id}).data] == [other.id]
    assert stripe_client.v1.disputes.list(params={"payment_intent": first.payment_intent}).data == []
    assert stripe_client.v1.refunds.list(params={"created": {"lt": made[0].created}}).data == []
    expanded = stripe_client.v1.charges.retrieve(first.id, params={"expand": ["refunds"]})
    assert [r.id for r in expanded.refunds.data] == every


def test_events_of_several_types_since_a_moment_are_one_list_call(emulator, stripe_client, create_session):
    charge = _paid_charge(emulator, stripe_client, create_session)
    refund = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 100})
    emulator.fail_refund(refund.id)
    emulator.inquiry(charge.id)
    since = stripe_client.v1.events.list(params={"limit": 1}).data[0].created

    found = stripe_client.v1.events.list(
        params={"types": ["refund.failed", "charge.dispute.created"], "created": {"gte": since - 5}}
    )

    assert [e.type for e in found.data] == ["charge.dispute.created", "refund.failed"]
    assert stripe_client.v1.events.list(params={"created": {"gt": since + 3600}}).data == []
