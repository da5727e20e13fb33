"""The operations page: what failed or is stuck across customers, and the ledger audit on demand."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditLot, Notification, ReconcileRun, StripeEvent, utcnow


def test_the_operations_page_lists_failed_events_and_unsent_emails(staff_client, customer):
    db.session.add(
        StripeEvent(
            id="evt_broken",
            type="charge.refunded",
            created=0,
            status="failed",
            error="RuntimeError: boom",
            payload={"id": "evt_broken"},
        )
    )
    db.session.add(
        Notification(
            kind="low_balance",
            user_id=customer,
            dedupe_key="k1",
            to_address="casey@example.com",
            subject="Your balance is low",
            body_text="",
            body_html="",
            status="failed",
            created_at=utcnow() - timedelta(hours=1),
        )
    )
    db.session.commit()

    response = staff_client.get("/admin/operations")
    page = response.get_data(as_text=True)

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "evt_broken" in page and "RuntimeError: boom" in page
    assert "Your balance is low" in page
    assert "Run the audit" in page


def test_running_the_audit_shows_clean_or_lists_mismatches(staff_client, customer):
    assert "The audit is clean" in staff_client.get("/admin/operations?audit=1").get_data(as_text=True)

    # Break a lot behind the ledger's back, as a bad manual fix would.
    db.session.execute(sa.update(CreditLot).values(remaining=CreditLot.remaining + 7))
    db.session.commit()

    assert "mismatch" in staff_client.get("/admin/operations?audit=1").get_data(as_text=True)


def test_the_operations_page_says_reconcile_never_ran_before_its_first_run(staff_client):
    page = staff_client.get("/admin/operations").get_data(as_text=True)

    assert "Reconcile has never run." in page


def test_the_operations_page_shows_what_reconciles_last_run_settled(staff_client):
    now = utcnow()
    db.session.add_all(
        [
            ReconcileRun(
                since_hours=24, started_at=now - timedelta(hours=2), finished_at=now, outcome="failed"
            ),
            ReconcileRun(
                since_hours=24,
                started_at=now - timedelta(seconds=3),
                finished_at=now,
                outcome="ok",
                sessions_checked=2,
                sessions_credited=1,
                charges_checked=1,
                charges_moved=1,
                session_outcomes={"credited": 1, "unpaid": 1},
                charge_outcomes={"moved": 1},
            ),
        ]
    )
    db.session.commit()

    page = staff_client.get("/admin/operations").get_data(as_text=True)

    assert "over the last 24h, took 3.0s" in page
    assert "Checked 2 complete Checkout Session(s), credited 1: 1 credited, 1 unpaid." in page
    assert "Checked 1 charge(s) with refunds or disputes, moved credits for 1: 1 moved." in page
    assert "failed" not in page.split('id="reconcile-h"')[1].split("</section>")[0]


def test_the_operations_page_shows_a_failed_run_and_one_that_did_not_finish(staff_client):
    now = utcnow()
    db.session.add(
        ReconcileRun(
            since_hours=24,
            started_at=now - timedelta(seconds=5),
            finished_at=now,
            outcome="failed",
            error="APIConnectionError: Stripe did not answer",
        )
    )
    db.session.commit()
    failed = staff_client.get("/admin/operations").get_data(as_text=True)

    db.session.add(ReconcileRun(since_hours=1, started_at=now))
    db.session.commit()
    crashed = staff_client.get("/admin/operations").get_data(as_text=True)

    assert "failed after 5.0s: APIConnectionError: Stripe did not answer" in failed
    assert "over the last 1h, did not finish" in crashed
