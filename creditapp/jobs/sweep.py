"""`flask jobs sweep`: the repairs a queue needs now and then. Safe to run from cron, and twice at once.

1. fail every unfinished job past its deadline and release its hold;
2. put running jobs whose worker's lease ran out (the worker died) back in the queue (one
   the person had pressed Stop on then ends canceled as soon as a worker claims it);
3. queue again the jobs waiting longer than `lost_after` (the message was lost between
   the commit and the enqueue, or with a broker that lost it): a duplicate is harmless;
4. delete results older than RESULT_TTL_DAYS;
5. write the expiry of every lot whose expiry has passed, and the notice e-mail of every lot
   expiring soon (`ledger.expiry`; both once per lot);
6. queue again the automatic top-ups still pending and the e-mails still unsent after
   `lost_after` (or whose sender's lease ran out): both are safe to repeat. A top-up older
   than Stripe keeps idempotency keys (24 h) is never charged again: it is settled from
   Stripe's record of it, or canceled when Stripe has none.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from creditapp import ledger
from creditapp.jobs import records, relay, results
from creditapp.jobs.queue import current_queue
from creditapp.ledger import job_holds
from creditapp.ledger.outbox import TOPUP
from creditapp.models import utcnow
from creditapp.platform.transactions import read
from creditapp.topups import charging


@dataclass
class SweepReport:
    """What one sweep did."""

    failed: list[tuple[uuid.UUID, int, int]] = field(default_factory=list)
    requeued: list[uuid.UUID] = field(default_factory=list)
    results_deleted: int = 0
    topups_requeued: int = 0
    topups_recovered: dict[int, str] = field(default_factory=dict)  # purchase id → outcome
    emails_requeued: int = 0
    lots_expired: list[ledger.Expired] = field(default_factory=list)
    expiry_notices: int = 0


def sweep(config: Mapping[str, Any], lost_after: timedelta) -> SweepReport:
    """Run the repairs once, in order."""
    report = SweepReport()
    now = utcnow()
    report.failed = job_holds.fail_overdue_jobs(now)
    abandoned = records.requeue_abandoned(now)
    lost = records.waiting_longer_than(lost_after, now)
    queue = current_queue()
    for job_id in dict.fromkeys([*abandoned, *lost]):
        if queue.enqueue(job_id):
            report.requeued.append(job_id)
    ttl = timedelta(days=int(config["RESULT_TTL_DAYS"]))
    for key in records.forget_results_before(now - ttl):
        results.delete(config, key)
        report.results_deleted += 1
    report.results_deleted += results.delete_older_than(config, ttl.total_seconds())
    report.lots_expired = ledger.expire_lots(now)
    report.expiry_notices = len(ledger.write_expiry_notices(now))
    with read() as session:
        # A top-up older than Stripe keeps idempotency keys is never charged again: `recover`.
        waiting = relay.never_handed_over(session, lost_after, now, now - charging.IDEMPOTENCY_WINDOW)
    topups = [row for row in waiting if row.kind == TOPUP]
    report.topups_requeued = sum(
        queue.enqueue_task(relay.TASKS[TOPUP], row.id) for row in topups if not row.stale
    )
    for row in topups:
        if row.stale:
            report.topups_recovered[row.id] = charging.recover(row.id)
    report.emails_requeued = sum(
        queue.enqueue_task(relay.TASKS[row.kind], row.id) for row in waiting if row.kind != TOPUP
    )
    return report
