"""Reconcile's runs as `reconcile_runs` rows: started, then finished ok or failed.

Each write is a short transaction of its own, committed before Stripe is asked anything
and after it has answered, so a run that crashes leaves its started row without an end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa

from creditapp.models import ReconcileRun, utcnow
from creditapp.platform.transactions import write

ERROR_LENGTH = 1000


class Line(Protocol):
    """A reconcile line: only its outcome is counted."""

    outcome: str


def start(since_hours: float) -> int:
    """Record a run starting now over the last `since_hours`; its id."""
    with write() as session:
        run = ReconcileRun(since_hours=since_hours, started_at=utcnow())
        session.add(run)
        session.flush()
        run_id = run.id
    return run_id


def finish(run_id: int, sessions: Sequence[Line], charges: Sequence[Line]) -> None:
    """Record the run as ended ok, with what it checked and what it settled."""
    session_outcomes = dict(Counter(line.outcome for line in sessions))
    charge_outcomes = dict(Counter(line.outcome for line in charges))
    _end(
        run_id,
        outcome="ok",
        sessions_checked=len(sessions),
        sessions_credited=session_outcomes.get("credited", 0),
        charges_checked=len(charges),
        charges_moved=charge_outcomes.get("moved", 0),
        session_outcomes=session_outcomes,
        charge_outcomes=charge_outcomes,
    )


def fail(run_id: int, error: str) -> None:
    """Record the run as ended on an error (what it settled before the error stays settled)."""
    _end(run_id, outcome="failed", error=error[:ERROR_LENGTH])


def _end(run_id: int, **values: object) -> None:
    with write() as session:
        session.execute(
            sa.update(ReconcileRun).where(ReconcileRun.id == run_id).values(finished_at=utcnow(), **values)
        )
