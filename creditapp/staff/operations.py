"""The operations page's lists: what failed or is stuck across all customers, and reconcile's last run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from creditapp.models import (
    CreditPurchase,
    FeatureJob,
    Notification,
    ReconcileRun,
    StripeEvent,
    User,
    utcnow,
)
from creditapp.platform.transactions import read

LIMIT = 50


@dataclass(frozen=True)
class Operations:
    """Webhook events failed or ignored, jobs failed or stuck, e-mails unsent, top-ups failed,
    and reconcile's last run (None: never run)."""

    events: list[Any]
    jobs: list[Any]
    emails: list[Any]
    topups: list[Any]
    last_reconcile: ReconcileRun | None


def _detached(session: sa.orm.Session, rows: list[Any]) -> list[Any]:
    for row in rows:
        session.expunge(row[0] if isinstance(row, sa.Row) else row)
    return rows


def gather() -> Operations:
    """The four lists, newest first, each at most LIMIT long, and the last reconcile run started."""
    now = utcnow()
    with read() as session:
        events = (
            session.execute(
                sa.select(StripeEvent)
                .where(StripeEvent.status.in_(("failed", "ignored")))
                .order_by(StripeEvent.status, StripeEvent.received_at.desc())
                .limit(LIMIT)
            )
            .scalars()
            .all()
        )
        stuck = sa.and_(FeatureJob.status.in_(("queued", "running")), FeatureJob.deadline_at < now)
        jobs = session.execute(
            sa.select(FeatureJob, User.email)
            .join(User, User.id == FeatureJob.user_id)
            .where(sa.or_(FeatureJob.status == "failed", stuck))
            .order_by(FeatureJob.created_at.desc())
            .limit(LIMIT)
        ).all()
        emails = (
            session.execute(
                sa.select(Notification)
                .where(Notification.status.in_(("pending", "sending", "failed")))
                .order_by(Notification.created_at.desc())
                .limit(LIMIT)
            )
            .scalars()
            .all()
        )
        topups = session.execute(
            sa.select(CreditPurchase, User.email)
            .join(User, User.id == CreditPurchase.user_id)
            .where(CreditPurchase.source == "auto_recharge", CreditPurchase.status == "failed")
            .order_by(CreditPurchase.created_at.desc())
            .limit(LIMIT)
        ).all()
        last_reconcile = session.execute(
            sa.select(ReconcileRun).order_by(ReconcileRun.started_at.desc(), ReconcileRun.id.desc()).limit(1)
        ).scalar_one_or_none()
        return Operations(
            _detached(session, list(events)),
            _detached(session, list(jobs)),
            _detached(session, list(emails)),
            _detached(session, list(topups)),
            _detached(session, [last_reconcile])[0] if last_reconcile else None,
        )
