"""`flask jobs worker` and `flask jobs sweep`. Plain lines on stdout; errors on stderr."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from huey import Huey
from huey.constants import WORKER_THREAD
from huey.consumer import Consumer

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
    """Run job workers (Huey's consumers, threads) until SIGTERM or SIGINT.

    Two consumers in this one process: the paid features' queue and the money queue
    (top-ups, e-mails) with threads of its own, so money work never waits behind features.
    """
    app = current_app._get_current_object()
    threads = concurrency or int(app.config["JOB_WORKER_CONCURRENCY"])
    money_threads = int(app.config["MONEY_WORKER_CONCURRENCY"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    queue = current_queue()
    if sweep_every:
        _schedule_sweeps(app, sweep_every)
    money = _consumer(Consumer, queue.money_huey, money_threads)
    consumer = _consumer(PairedConsumer, queue.huey, threads)
    consumer.partner = money
    money.start()  # its signal handlers are replaced by the main consumer's, which stops both
    click.echo(
        f"job worker: {threads} threads on {_broker(app.config['JOBS_BROKER_URL'])}, "
        f"{money_threads} on its money queue"
    )
    consumer.run()


class PairedConsumer(Consumer):
    """Huey's consumer, stopping a partner consumer (the money queue's) when it stops itself."""

    partner: Consumer | None = None

    def stop(self, graceful: bool = False) -> None:
        """Stop both: neither takes new work, then each finishes what it has in hand."""
        if self.partner is not None:
            self.partner.stop_flag.set()
        super().stop(graceful)
        if self.partner is not None:
            self.partner.stop(graceful)

    def check_worker_health(self) -> bool:
        """Restart dead threads of both consumers (only this one runs the health loop)."""
        if self.partner is not None:
            self.partner.check_worker_health()
        return super().check_worker_health()


def _consumer(kind: type[Consumer], huey: Huey, threads: int) -> Consumer:
    return kind(
        huey,
        workers=threads,
        worker_type=WORKER_THREAD,
        # Poll an idle queue at least every half second (Redis blocks on the queue anyway).
        max_delay=0.5,
        # Deploys send SIGTERM: finish the jobs in hand first (a job cut short is re-run later).
        graceful_signal="TERM",
        shutdown_timeout=30,
    )


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
    """Re-queue lost jobs, fail overdue ones (credits back), delete expired results, expire lots
    and write their notices, re-queue top-ups and e-mails."""
    report = sweeping.sweep(current_app.config, timedelta(seconds=lost_after))
    for job_id, user_id, credits in report.failed:
        click.echo(f"failed overdue job {job_id}: {credits} credits back to user {user_id}")
    for job_id in report.requeued:
        click.echo(f"queued job {job_id} again")
    click.echo(
        f"sweep: {len(report.failed)} overdue job(s) failed, {len(report.requeued)} re-queued, "
        f"{report.results_deleted} expired result(s) deleted"
    )
    for lot in report.lots_expired:
        click.echo(f"expired lot {lot.lot_id} of wallet {lot.wallet_id}: {lot.credits} credits")
    click.echo(
        f"sweep: {len(report.lots_expired)} lot(s) expired "
        f"({sum(lot.credits for lot in report.lots_expired)} credits), "
        f"{report.expiry_notices} expiry notice(s) written"
    )
    for purchase_id, outcome in report.topups_recovered.items():
        click.echo(f"automatic top-up {purchase_id} older than 24 h, read from Stripe: {outcome}")
    click.echo(
        f"sweep: {report.topups_requeued} automatic top-up(s) and "
        f"{report.emails_requeued} e-mail(s) queued again"
    )
