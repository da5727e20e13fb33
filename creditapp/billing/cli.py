"""Stripe-facing maintenance commands: `credits reconcile`, `stripe replay|setup-webhook|check`."""

from __future__ import annotations

import click
import stripe
from flask import current_app
from flask.cli import AppGroup

from creditapp.billing import reconcile, stripe_events, stripe_setup

stripe_cli = AppGroup(
    "stripe", help="Stripe: replay stored events, set up the webhook endpoint, check the account."
)


@click.command("reconcile")
@click.option(
    "--since",
    "since_hours",
    type=click.FloatRange(min=0, min_open=True),
    default=24,
    show_default=True,
    help="Look at Checkout Sessions created in the last HOURS.",
)
def reconcile_command(since_hours: float) -> None:
    """Fulfil paid sessions the webhook missed and re-derive recent clawbacks (idempotent).

    Each run is recorded (`reconcile_runs`); the staff operations page shows the last.
    """
    try:
        report = reconcile.run(since_hours)
    except stripe.StripeError as exc:
        raise click.ClickException(f"Stripe: {exc.user_message or exc.__class__.__name__}") from exc
    lines, clawback_lines = report.sessions, report.charges
    window = f"the last {since_hours:g}h"
    for line in lines:
        click.echo(f"{line.session_id}: {line.message}", err=line.outcome == "unknown")
    click.echo(f"checked {len(lines)} complete session(s) from {window}: {_summary(lines)}")
    for line in clawback_lines:
        click.echo(f"{line.charge_id}: {line.message}", err=line.outcome == "unknown")
    click.echo(
        f"checked {len(clawback_lines)} charge(s) with refunds or disputes from {window}: "
        f"{_summary(clawback_lines)}"
    )


def _summary(lines: list) -> str:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.outcome] = counts.get(line.outcome, 0) + 1
    return ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in sorted(counts.items())) or (
        "nothing to do"
    )


@stripe_cli.command("replay")
@click.argument("event_id", required=False)
@click.option("--failed", "all_failed", is_flag=True, help="Replay every stored event that failed.")
def replay_command(event_id: str | None, all_failed: bool) -> None:
    """Re-run stored events through their handlers (one EVENT_ID, or --failed)."""
    if bool(event_id) == all_failed:
        raise click.UsageError("give either an EVENT_ID or --failed")
    ids = stripe_events.failed_event_ids() if all_failed else [event_id]
    still_failing = 0
    for one in ids:
        try:
            receipt = stripe_events.replay(one)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
        except stripe_events.RetryLater as exc:
            raise click.ClickException(f"{one}: temporary failure ({exc}); try again later") from exc
        if receipt.status == "failed":
            still_failing += 1
            click.echo(f"{one} {receipt.type}: failed: {receipt.error}", err=True)
        else:
            click.echo(f"{one} {receipt.type}: {receipt.status}")
    click.echo(f"replayed {len(ids)} event(s), {still_failing} still failing")
    if still_failing:
        raise click.exceptions.Exit(1)


@stripe_cli.command("setup-webhook")
@click.argument("url")
def setup_webhook_command(url: str) -> None:
    """Create or update the endpoint for URL with exactly the handled events (idempotent)."""
    if not url.startswith(("https://", "http://")):
        raise click.UsageError("URL must start with https:// (or http:// for a local stand-in)")
    try:
        done = stripe_setup.setup_webhook(url)
    except stripe.StripeError as exc:
        raise click.ClickException(f"Stripe: {exc.user_message or exc.__class__.__name__}") from exc
    events = len(stripe_events.HANDLED_EVENTS)
    if done.created:
        click.echo(
            f"created webhook endpoint {done.endpoint_id} for {url}: {events} events, API {done.api_version}"
        )
    else:
        click.echo(f"updated webhook endpoint {done.endpoint_id} for {url}: {events} events")
    if done.secret:
        click.echo(f"signing secret (set STRIPE_WEBHOOK_SECRET to it): {done.secret}")
    elif done.created:
        click.echo("Stripe returned no signing secret; copy it from the Dashboard", err=True)
    if done.api_version and done.api_version != stripe.api_version:
        click.echo(
            f"warning: {done.endpoint_id} sends events as API {done.api_version}, the app speaks "
            f"{stripe.api_version}; Stripe cannot change that on an existing endpoint",
            err=True,
        )
    for other in done.duplicates:
        click.echo(f"warning: {other} also posts to {url}; delete it or every event arrives twice", err=True)


@stripe_cli.command("check")
@click.option("--url", help="The webhook URL to check (default: APP_BASE_URL/webhooks/stripe).")
def check_command(url: str | None) -> None:
    """Check the Stripe account against the configuration; exit 1 on any problem."""
    config = current_app.config
    url = url or f"{config['APP_BASE_URL']}/webhooks/stripe"
    findings = stripe_setup.check(config, url)
    for finding in findings:
        click.echo(f"{finding.level:<8}{finding.subject}: {finding.message}")
    problems = sum(f.level == "problem" for f in findings)
    if problems:
        click.echo(f"{problems} problem(s) found", err=True)
        raise click.exceptions.Exit(1)
    click.echo("Stripe matches the configuration")


# Billing's commands in the `flask credits` group (the `stripe` group is its own).
COMMANDS = (reconcile_command,)
