"""Every `flask credits reconcile` run is recorded: what it checked and settled, or its error."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from creditapp.billing import reconcile
from creditapp.extensions import db
from creditapp.models import ReconcileRun
from creditapp.platform import stripe_client
from tests.conftest import STRIPE_KEY, free_port
from tests.support import stripe_helpers
from tests.support.lifecycle import bought, refund
from tests.support.stripe_helpers import checkout, emulator_config

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def runs() -> list[ReconcileRun]:
    db.session.rollback()  # a fresh snapshot: reconcile committed its rows
    return db.session.execute(sa.select(ReconcileRun).order_by(ReconcileRun.id)).scalars().all()


def test_a_run_records_what_it_checked_and_settled(
    stripe_env, live_server, runner, client, make_user, sign_in_as
):
    user, refunded = bought(stripe_env, client, make_user, sign_in_as)
    paid = checkout(client, 500)
    processing = checkout(client, 100)
    with emulator_config(stripe_env, live_server, webhooks_enabled=False):
        stripe_env.pay(paid)
        stripe_env.pay(processing, "async_pending")
        refund(refunded, 800)  # 200 credits

        result = runner.invoke(args=["credits", "reconcile", "--since", "2"])

    assert result.exit_code == 0, result.output
    [run] = runs()
    assert (run.outcome, run.since_hours, run.error) == ("ok", 2, None)
    assert run.started_at <= run.finished_at
    assert (run.sessions_checked, run.sessions_credited) == (3, 1)
    assert run.session_outcomes == {"already_completed": 1, "credited": 1, "unpaid": 1}
    assert (run.charges_checked, run.charges_moved, run.charge_outcomes) == (1, 1, {"moved": 1})


def test_a_run_with_nothing_to_do_records_zero_counts(stripe_env, runner):
    result = runner.invoke(args=["credits", "reconcile"])

    assert result.exit_code == 0, result.output
    [run] = runs()
    assert run.outcome == "ok" and run.finished_at is not None
    assert (run.sessions_checked, run.sessions_credited) == (0, 0)
    assert (run.charges_checked, run.charges_moved) == (0, 0)


def test_a_run_that_cannot_reach_stripe_records_failed_with_the_error(stripe_env, app, runner, monkeypatch):
    unreachable = stripe_client.build_client(STRIPE_KEY, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setitem(app.extensions, "stripe_client", unreachable)

    result = runner.invoke(args=["credits", "reconcile"])

    assert result.exit_code == 1
    [run] = runs()
    assert run.outcome == "failed" and run.finished_at is not None
    assert run.error.startswith("APIConnectionError: ")
    assert run.sessions_checked is None


def test_each_run_is_a_row_of_its_own(stripe_env, runner):
    for _ in range(2):
        assert runner.invoke(args=["credits", "reconcile"]).exit_code == 0

    assert [run.outcome for run in runs()] == ["ok", "ok"]


def test_a_run_killed_midway_keeps_its_started_row_without_an_end(stripe_env, monkeypatch):
    def killed(since_hours):
        raise KeyboardInterrupt  # as a SIGINT between reading sessions and clawbacks

    monkeypatch.setattr(reconcile, "reconcile_clawbacks", killed)

    with pytest.raises(KeyboardInterrupt):
        reconcile.run(24)

    [run] = runs()
    assert (run.finished_at, run.outcome) == (None, None)
