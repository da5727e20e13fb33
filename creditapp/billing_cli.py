"""`flask credits reconcile` and `flask stripe replay`: Stripe-facing maintenance commands."""

from __future__ import annotations

import click
import stripe
from flask import Flask
from flask.cli import AppGroup

from creditapp.services import billing, stripe_events

stripe_cli = AppGroup("stripe", help="Stripe webhook events: replay stored events.")


def register(app: Flask, credits_cli: AppGroup) -> None:
    """Add `credits reconcile` to the credits group and the `stripe` group to the app."""
    credits_cli.add_command(reconcile_command)
    app.cli.add_command(stripe_cli)


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
    """Fulfil paid Checkout Sessions whose webhook never arrived (idempotent)."""
    try:
        lines = billing.reconcile(since_hours)
    except stripe.StripeError as exc:
        raise click.ClickException(f"Stripe: {exc.user_message or exc.__class__.__name__}") from exc
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.outcome] = counts.get(line.outcome, 0) + 1
        click.echo(f"{line.session_id}: {line.message}", err=line.outcome == "unknown")
    summary = ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in sorted(counts.items()))
    window = f"the last {since_hours:g}h"
    click.echo(f"checked {len(lines)} complete session(s) from {window}: {summary or 'nothing to do'}")


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
