"""`flask jobs worker` and `flask jobs sweep`. Plain lines on stdout; errors on stderr."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from huey.constants import WORKER_THREAD

from creditapp.jobs import sweep as sweeping
from creditapp.jobs.queue import current_queue

jobs_cli = AppGroup("jobs", help="Run the job workers; repair the queue.")


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(jobs_cli)


@jobs_cli.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Worker threads in this process (default JOB_WORKER_CONCURRENCY).",
)
@click.option(
    "--sweep-every",
    type=click.IntRange(min=0),
    default=0,
    help="Also run the sweep every N seconds from this process (0: never; cron does it).",
)
def worker_command(concurrency: int | None, sweep_every: int) -> None:
    """Run job workers (Huey's consumer, threads) until SIGTERM or SIGINT."""
    app = current_app._get_current_object()
    threads = concurrency or int(app.config["JOB_WORKER_CONCURRENCY"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    queue = current_queue()
    if sweep_every:
        _schedule_sweeps(app, sweep_every)
    consumer = queue.huey.create_consumer(
        workers=threads,
        worker_type=WORKER_THREAD,
        # Poll an idle queue at least every half second (Redis blocks on the queue anyway).
        max_delay=0.5,
        # Deploys send SIGTERM: finish the jobs in hand first (a job cut short is re-run later).
        graceful_signal="TERM",
        shutdown_timeout=30,
    )
    click.echo(f"job worker: {threads} threads on {_broker(app.config['JOBS_BROKER_URL'])}")
    consumer.run()


def _broker(url: str) -> str:
    """The broker URL without its password."""
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.rsplit('@', 1)[1]}"
    return url


def _schedule_sweeps(app: Flask, seconds: int) -> None:
    """A thread running the sweep every `seconds` (handy with the embedded queue: no cron)."""

    def loop() -> None:
        while not stop.wait(seconds):
            with app.app_context():
                try:
                    sweeping.sweep(app.config, timedelta(seconds=60))
                except Exception:  # noqa: BLE001 - keep sweeping; the next run retries
                    logging.getLogger("creditapp.jobs").exception("sweep failed")

    stop = threading.Event()
    threading.Thread(target=loop, name="sweep", daemon=True).start()


@jobs_cli.command("sweep")
@click.option(
    "--lost-after",
    type=click.IntRange(min=0),
    default=60,
    show_default=True,
    help="Queue again jobs waiting this many seconds.",
)
def sweep_command(lost_after: int) -> None:
    """Re-queue lost jobs, fail overdue ones (credits back), delete expired results."""
    report = sweeping.sweep(current_app.config, timedelta(seconds=lost_after))
    for job_id, user_id, credits in report.failed:
        click.echo(f"failed overdue job {job_id}: {credits} credits back to user {user_id}")
    for job_id in report.requeued:
        click.echo(f"queued job {job_id} again")
    click.echo(
        f"sweep: {len(report.failed)} overdue job(s) failed, {len(report.requeued)} re-queued, "
        f"{report.results_deleted} expired result(s) deleted"
    )
    click.echo(
        f"sweep: {report.recharges_requeued} automatic top-up(s) and "
        f"{report.emails_requeued} e-mail(s) queued again"
    )
