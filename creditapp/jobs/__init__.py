"""Paid work as durable jobs: the queue wiring (Huey), the worker's runner, results, the sweep.

A request validates, writes the hold and the `feature_jobs` row in one transaction
(`ledger.job_holds`), then enqueues the job id after the commit. Workers (`flask jobs worker`)
claim the job, run the feature, store the result, and capture or release the hold.
Delivery is at least once, so every step is idempotent; `flask jobs sweep` re-queues
jobs whose message was lost, fails overdue ones and deletes expired results.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Build the app's queue, register the worker's task, the job pages and the `flask jobs` commands."""
    from creditapp.jobs import cli, money_tasks, presenting, queue, runner, views

    queue.init_app(app, queue.Tasks(run_job=runner.run, register_money_tasks=money_tasks.register))
    cli.init_app(app)
    app.register_blueprint(views.bp)
    app.jinja_env.globals["job_result_url"] = presenting.result_url  # History's thumbnails
