"""The ledger's `flask credits …` commands: balance, grant, lots, void-lot, expire, audit,
release-stale.

Plain lines on stdout; errors on stderr, non-zero exit, nothing written. `create_app` puts
them in the `credits` group with the other domains' (`history`, `reconcile`). What lots are
and how they expire: docs/design/lots.md.

`balance`, `grant` and `lots` act on a person's wallet (EMAIL) or, with `--org ID` instead,
on an organization's. The ledger imports no domain: the organization is read from its row
(`creditapp.models`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import LOT_CATEGORIES, Organization, User, utcnow


def user_id(email: str) -> int:
    """The user with this e-mail address, or a ClickException naming the unknown address."""
    try:
        return ledger.user_id_for_email(email)
    except ledger.UnknownUser as exc:
        raise click.ClickException(str(exc)) from exc


@dataclass(frozen=True)
class Holder:
    """Whose wallet a command acts on: a person's (by e-mail) or an organization's (`--org`).

    `user_id` is who its adjustments are recorded under: the person, or for an organization
    its creator (as the ledger records an organization's expiries and voids).
    """

    label: str  # how the command's lines name it
    wallet_id: int
    user_id: int


def holder(email: str | None, org_id: int | None) -> Holder:
    """The wallet named by EMAIL or by `--org ID` (exactly one of them), or a usage error."""
    if (email is None) == (org_id is None):
        raise click.UsageError("give either EMAIL or --org ID (not both)")
    if org_id is None:
        owner = user_id(email)
        wallet_id = db.session.execute(sa.select(User.wallet_id).where(User.id == owner)).scalar_one()
        return Holder(email.lower(), wallet_id, owner)
    row = db.session.execute(
        sa.select(Organization.name, Organization.wallet_id, Organization.created_by).where(
            Organization.id == org_id
        )
    ).one_or_none()
    if row is None:
        raise click.ClickException(f"no organization with id {org_id}")
    return Holder(f"organization {org_id} ({row.name})", row.wallet_id, row.created_by)


ORG_OPTION = click.option(
    "--org", "org_id", type=int, default=None, help="An organization's id: its wallet instead of EMAIL's."
)


@click.command("balance")
@click.argument("email", required=False)
@ORG_OPTION
@with_appcontext
def balance_command(email: str | None, org_id: int | None) -> None:
    """Print a wallet's balance (what may be spent now), with what is on hold and what is owed."""
    who = holder(email, org_id)
    result = ledger.wallet_balance(who.wallet_id)
    notes = [f"{result.held} on hold"] if result.held else []
    if result.owed > 0:
        notes.append(f"{result.owed} owed")
    extra = f" ({', '.join(notes)})" if notes else ""
    click.echo(f"{who.label}: {result.credits} credits{extra}")


def when(value: datetime | None) -> str:
    """A lot's expiry as the commands print it: UTC to the minute, or `never`."""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value is not None else "never"


def parse_expiry(value: str) -> datetime:
    """An ISO-8601 date or time; one without a zone is UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 date or time (e.g. 2026-12-14 or 2026-12-14T09:30:00+00:00)",
            param_hint="'--expires-at'",
        ) from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# ignore_unknown_options lets a negative AMOUNT ("-5") through as an argument. EMAIL is
# optional so that `grant --org ID AMOUNT` works: click then fills the first argument.
@click.command("grant", context_settings={"ignore_unknown_options": True})
@click.argument("email", required=False)
@click.argument("amount", required=False)
@ORG_OPTION
@click.option("--reason", required=True, help="Why; recorded with the adjustment and the lot.")
@click.option(
    "--category",
    type=click.Choice(LOT_CATEGORIES),
    default=None,
    help="The lot's category (default promotional).",
)
@click.option(
    "--expires-in-days",
    type=click.IntRange(min=1),
    default=None,
    help="The lot expires this many days from now (default: never).",
)
@click.option(
    "--expires-at",
    default=None,
    help="The lot expires at this ISO-8601 date or time (UTC unless it names a zone).",
)
@click.option(
    "--priority",
    type=click.IntRange(0, 100),
    default=None,
    help="0-100, lower is spent first (default 50).",
)
@with_appcontext
def grant_command(
    email: str | None,
    amount: str | None,
    org_id: int | None,
    reason: str,
    category: str | None,
    expires_in_days: int | None,
    expires_at: str | None,
    priority: int | None,
) -> None:
    """Give credits as a lot of their own and print its id; a negative AMOUNT takes them from
    the live lots in spend order (category, expiry and priority then do not apply).

    `grant EMAIL AMOUNT` for a person's wallet, `grant --org ID AMOUNT` for an organization's."""
    if org_id is not None and amount is None:
        email, amount = None, email
    if amount is None:
        raise click.UsageError("Missing argument 'AMOUNT'.")
    try:
        credits = int(amount)
    except ValueError:
        raise click.BadParameter(f"{amount!r} is not a whole number", param_hint="'AMOUNT'") from None
    who = holder(email, org_id)
    if expires_in_days is not None and expires_at is not None:
        raise click.UsageError("--expires-in-days and --expires-at are mutually exclusive: give one of them")
    lot_options = (category, priority, expires_in_days, expires_at)
    if credits < 0 and any(option is not None for option in lot_options):
        raise click.UsageError(
            "--category, --priority, --expires-in-days and --expires-at describe a new lot: "
            "a negative AMOUNT (a debit) takes credits from existing lots and takes none of them"
        )
    expiry = parse_expiry(expires_at) if expires_at is not None else None
    if expires_in_days is not None:
        expiry = utcnow() + timedelta(days=expires_in_days)
    category = category or "promotional"
    priority = 50 if priority is None else priority
    try:
        granted = ledger.grant(
            who.user_id,
            credits,
            note=reason,
            category=category,
            priority=priority,
            expires_at=expiry,
            wallet_id=who.wallet_id,
        )
    except ledger.InvalidAmount as exc:
        raise click.ClickException(str(exc)) from exc
    if granted.lot_id is None:
        click.echo(f"{who.label}: {credits:+d} credits ({reason}); balance now {granted.balance}")
        return
    click.echo(
        f"lot {granted.lot_id}: {who.label} {credits:+d} credits ({reason}), {category}, "
        f"priority {priority}, expires {when(expiry)}; balance now {granted.balance}"
    )


@click.command("lots")
@click.argument("email", required=False)
@ORG_OPTION
@with_appcontext
def lots_command(email: str | None, org_id: int | None) -> None:
    """List a wallet's lots, newest first: id, source, category, priority, remaining/amount,
    expiry, and the state of a lot that has ended."""
    who = holder(email, org_id)
    before = None
    found = 0
    while page := ledger.wallet_lots(who.wallet_id, limit=200, before_id=before):
        for lot in page:
            state = "" if lot.state == "live" else f"  {lot.state}"
            click.echo(
                f"lot {lot.id}  {lot.source}  {lot.category}  priority {lot.priority}  "
                f"{lot.remaining}/{lot.amount}  expires {when(lot.expires_at)}{state}"
            )
        found += len(page)
        before = page[-1].id
    if not found:
        click.echo(f"{who.label}: no lots")


@click.command("void-lot")
@click.argument("lot_id", type=int)
@click.option("--reason", required=True, help="Why; recorded with the `voided` entry.")
@with_appcontext
def void_lot_command(lot_id: int, reason: str) -> None:
    """Take a lot's remaining credits out (credits held from it stay held)."""
    try:
        credits = ledger.void_lot(lot_id, reason)
    except (ledger.UnknownLot, ledger.InvalidAmount) as exc:
        raise click.ClickException(str(exc)) from exc
    if credits:
        click.echo(f"voided lot {lot_id}: {credits} credits taken out ({reason.strip()})")
    else:
        click.echo(f"voided lot {lot_id}: it had no credits left to take out")


@click.command("expire")
@with_appcontext
def expire_command() -> None:
    """Write the expiry of every lot whose time has passed, then the notice e-mail of every
    lot expiring within LOT_EXPIRY_NOTICE_DAYS (each once per lot; safe from cron)."""
    expired = ledger.expire_lots()
    for item in expired:
        click.echo(f"expired lot {item.lot_id} of wallet {item.wallet_id}: {item.credits} credits")
    notices = ledger.write_expiry_notices()
    total = sum(item.credits for item in expired)
    click.echo(
        f"expired {len(expired)} lot(s), {total} credits; {len(notices)} expiry notice(s) written "
        f"(lots expiring within {current_app.config['LOT_EXPIRY_NOTICE_DAYS']} days)"
    )


@click.command("audit")
@with_appcontext
def audit_command() -> None:
    """Check every balance against its ledger and its lots, every lot against its draws and
    entries, and every purchase's clawback against its entries; exit 1 listing any mismatch."""
    mismatches = ledger.audit()
    if not mismatches:
        click.echo(
            "audit clean: every wallet's balance equals its ledger sum and its lots, every lot's amount"
            " where its credits went, every clawback its refund and dispute entries"
        )
        return
    for m in mismatches:
        click.echo(m.describe(), err=True)
    raise click.exceptions.Exit(1)


@click.command("release-stale")
@click.option(
    "--older-than", type=click.IntRange(min=0), default=None, help="Seconds (default HOLD_TIMEOUT_SECONDS)."
)
@with_appcontext
def release_stale_command(older_than: int | None) -> None:
    """Release holds abandoned by crashed workers (safe to run from cron)."""
    seconds = older_than if older_than is not None else current_app.config["HOLD_TIMEOUT_SECONDS"]
    released = ledger.release_stale(timedelta(seconds=seconds))
    for spend_id, user_id, amount in released:
        click.echo(f"released spend {spend_id}: {amount} credits back to user {user_id}")
    click.echo(f"released {len(released)} stale hold(s) older than {seconds}s")


COMMANDS = (
    balance_command,
    grant_command,
    lots_command,
    void_lot_command,
    expire_command,
    audit_command,
    release_stale_command,
)
