"""The operations page: what failed or is stuck across customers, and the ledger audit on demand."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditLot, Notification, StripeEvent, utcnow


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
