"""A user's ledger, newest first, keyset-paginated across the three ledger tables."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.features import registry
from creditapp.history import lots
from creditapp.history.lots import Drawn
from creditapp.history.purchase_words import PurchaseWords, describe
from creditapp.history.scope import PERSONAL, Scope
from creditapp.history.usage import who
from creditapp.models import ApiKey, CreditAdjustment, CreditPurchase, CreditSpend, FeatureJob, User

# Rank breaks ties between rows of different tables written in the same microsecond.
RANK = {"purchase": 3, "adjustment": 2, "spend": 1}
# Adjustments that end (part of) a lot; their line names the lot.
ENDED = ("expired", "voided")


class BadCursor(ValueError):
    """The `before` cursor is not one this module produced."""


@dataclass(frozen=True)
class JobLink:
    """The job a spend paid for: what was asked (its feature's summary), how it went, and
    whether its result is kept (an image's shows as a thumbnail)."""

    id: str
    summary: str
    status: str
    has_result: bool
    result_type: str | None = None
    params: dict | None = None
    working: str = "Running"  # its feature's word for the running step

    @property
    def prompt(self) -> str:
        """The `prompt` it was asked with, if its feature takes one (the CSV's column)."""
        return str((self.params or {}).get("prompt", ""))

    @property
    def size(self) -> int | None:
        """The `size` it was asked for, if its feature takes one (the CSV's column)."""
        return (self.params or {}).get("size")

    @property
    def thumbnail(self) -> bool:
        """A kept image result, small beside the line."""
        return self.has_result and (self.result_type or "").startswith("image/")


@dataclass(frozen=True)
class Entry:
    """One ledger line as a person reads it."""

    kind: str
    id: int
    created_at: datetime
    amount: int
    status: str
    description: str
    job: JobLink | None = None
    # A spend's hold, when a metered capture charged less ("held H, charged C").
    held: int | None = None
    # The API key that made a spend, as "name (prefix)"; None for the browser.
    api_key: str | None = None
    money: int | None = None  # a purchase's price in minor units
    currency: str | None = None
    paid_by_stripe: bool = False  # a purchase Stripe holds a payment for (receipt, or processing)
    balance_after: int | None = None  # the running balance once this line counted
    words: PurchaseWords | None = None  # a purchase's status in words (None for other kinds)
    # The lots a held or captured spend took its credits from, in the order it drew them.
    drawn_from: tuple[Drawn, ...] = ()
    # An adjustment staff made (`admin_user_id` set): shown as "Adjusted by support", never by name.
    by_support: bool = False
    # Who wrote the line (a spend's spender); named to an organization's owners and admins.
    user_id: int | None = None
    spent_by: str | None = None  # "Name <e-mail>" of a spend's spender, when the reader may know
    # A purchase's invoice (DESIGN §21): its tax in minor units, number and PDF link.
    tax: int | None = None
    invoice_number: str | None = None
    invoice_pdf: str | None = None

    @property
    def ended_lot(self) -> bool:
        """An adjustment that took a lot's remaining credits out: it expired or was voided."""
        return self.kind == "adjustment" and self.status in ENDED

    @property
    def charged_less(self) -> bool:
        """A captured spend that charged less than it held (metered: what the work used)."""
        return self.kind == "spend" and self.status == "captured" and (self.held or 0) > -self.amount

    @property
    def processing(self) -> bool:
        """A purchase paid with a delayed method that has not settled yet."""
        return self.kind == "purchase" and self.status == "pending" and self.paid_by_stripe

    def cursor_after(self) -> str:
        """The keyset cursor that pages past this entry, carrying the running balance."""
        base = f"{self.created_at.isoformat()}~{RANK[self.kind]}~{self.id}"
        if self.balance_after is None:
            return base
        return f"{base}~{self.balance_after - self.amount}"


@dataclass(frozen=True)
class Page:
    """A page of entries and the cursor for the next one (None at the end)."""

    entries: list[Entry]
    next_cursor: str | None


def parse_cursor(raw: str) -> tuple[tuple[datetime, int, int], int | None]:
    """Decode a cursor into its keyset position and running balance; BadCursor if malformed."""
    try:
        parts = raw.split("~")
        if len(parts) not in (3, 4):
            raise ValueError(raw)
        stamp, rank, row_id = parts[:3]
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if int(rank) not in RANK.values():
            raise ValueError(raw)
        balance = int(parts[3]) if len(parts) == 4 else None
        return (when, int(rank), int(row_id)), balance
    except ValueError as exc:
        raise BadCursor(raw) from exc


def _after(model, rank: int, cursor: tuple[datetime, int, int] | None):
    """The keyset condition for one table: rows strictly older than the cursor."""
    if cursor is None:
        return sa.true()
    when, cursor_rank, cursor_id = cursor
    if rank < cursor_rank:
        return model.created_at <= when
    if rank > cursor_rank:
        return model.created_at < when
    return sa.or_(model.created_at < when, sa.and_(model.created_at == when, model.id < cursor_id))


def page(
    user_id: int,
    before: str | None = None,
    limit: int = 50,
    show_all: bool = False,
    balance: int | None = None,
    scope: Scope = PERSONAL,
) -> Page:
    """Up to `limit` entries older than the `before` cursor, newest first.

    Checkouts that moved no money (cancelled, declined, expired, failed) are left out
    unless `show_all`; a delayed payment still processing stays. With the current
    `balance` (first page) or a cursor that carries one, each entry gets its running
    balance: the balance once that line counted, as the ledger adds up today.

    `scope` is the wallet and the lines of it `user_id` sees (history.scope): the personal
    wallet by default; no running balance where lines are hidden from the reader.
    """
    cursor, carried = parse_cursor(before) if before else (None, None)
    running = (carried if before else balance) if scope.shows_money else None
    n = limit + 1
    p, s, a = CreditPurchase, CreditSpend, CreditAdjustment
    purchase_filter = (
        sa.true()
        if show_all
        else sa.or_(
            p.status == "completed",
            sa.and_(p.status == "pending", p.stripe_payment_intent_id.is_not(None)),
        )
    )
    no_int = sa.cast(sa.null(), sa.Integer)
    no_text = sa.cast(sa.null(), sa.String)
    parts = [
        sa.select(
            sa.literal("purchase").label("kind"),
            sa.literal(RANK["purchase"]).label("rank"),
            p.id,
            p.created_at,
            sa.case((p.status == "completed", p.credits_purchased), else_=0).label("amount"),
            p.status,
            p.source.label("description"),  # put into words below (purchase_words)
            p.amount_paid.label("money"),
            p.currency.label("currency"),
            p.stripe_payment_intent_id.is_not(None).label("paid_by_stripe"),
            p.credits_purchased.label("credits"),
            no_int.label("held"),
            sa.false().label("by_support"),
            p.user_id.label("user_id"),
            p.amount_tax.label("tax"),
            p.invoice_number.label("invoice_number"),
            p.invoice_pdf_url.label("invoice_pdf"),
        )
        .where(scope.lines(p, user_id), _after(p, RANK["purchase"], cursor), purchase_filter)
        .order_by(p.created_at.desc(), p.id.desc())
        .limit(n),
        sa.select(
            sa.literal("spend").label("kind"),
            sa.literal(RANK["spend"]).label("rank"),
            s.id,
            s.created_at,
            sa.case((s.status == "released", 0), else_=-s.credits_spent).label("amount"),
            s.status,
            s.feature_used.label("description"),
            no_int.label("money"),
            no_text.label("currency"),
            sa.false().label("paid_by_stripe"),
            no_int.label("credits"),
            s.credits_held.label("held"),
            sa.false().label("by_support"),
            s.user_id.label("user_id"),
            no_int.label("tax"),
            no_text.label("invoice_number"),
            no_text.label("invoice_pdf"),
        )
        .where(scope.lines(s, user_id), _after(s, RANK["spend"], cursor))
        .order_by(s.created_at.desc(), s.id.desc())
        .limit(n),
        sa.select(
            sa.literal("adjustment").label("kind"),
            sa.literal(RANK["adjustment"]).label("rank"),
            a.id,
            a.created_at,
            a.amount,
            a.reason.label("status"),
            a.note.label("description"),
            no_int.label("money"),
            no_text.label("currency"),
            sa.false().label("paid_by_stripe"),
            no_int.label("credits"),
            no_int.label("held"),
            a.admin_user_id.is_not(None).label("by_support"),
            a.user_id.label("user_id"),
            no_int.label("tax"),
            no_text.label("invoice_number"),
            no_text.label("invoice_pdf"),
        )
        .where(scope.lines(a, user_id), _after(a, RANK["adjustment"], cursor))
        .order_by(a.created_at.desc(), a.id.desc())
        .limit(n),
    ]
    union = sa.union_all(*[part.subquery().select() for part in parts]).subquery()
    rows = db.session.execute(
        sa.select(union).order_by(union.c.created_at.desc(), union.c.rank.desc(), union.c.id.desc()).limit(n)
    ).all()
    entries = []
    for r in rows[:limit]:
        amount = int(r.amount)
        paid_by_stripe = bool(r.paid_by_stripe)
        words = describe(r.status, r.description, r.credits, paid_by_stripe) if r.kind == "purchase" else None
        entries.append(
            Entry(
                r.kind,
                r.id,
                _aware(r.created_at),
                amount,
                r.status,
                words.what if words else r.description or "",
                money=r.money,
                currency=r.currency,
                paid_by_stripe=paid_by_stripe,
                balance_after=running,
                words=words,
                held=r.held,
                by_support=bool(r.by_support),
                user_id=r.user_id,
                tax=r.tax,
                invoice_number=r.invoice_number,
                invoice_pdf=r.invoice_pdf,
            )
        )
        if running is not None:
            running -= amount
    # In an organization a spend's job (its prompt, its result) is its spender's alone.
    entries = _with_lots(_with_keys(_with_jobs(entries, user_id if scope.organization else None)))
    if scope.names_spenders:
        entries = _with_spenders(entries)
    more = len(rows) > limit
    return Page(entries, entries[-1].cursor_after() if more and entries else None)


def _with_jobs(entries: list[Entry], only_of: int | None = None) -> list[Entry]:
    """Link each spend to its job, with one query by the unique `spend_id` (none without spends);
    with `only_of`, only the spends that user made."""
    spend_ids = [e.id for e in entries if e.kind == "spend" and only_of in (None, e.user_id)]
    if not spend_ids:
        return entries
    j = FeatureJob
    rows = db.session.execute(
        sa.select(j.spend_id, j.id, j.feature, j.params, j.status, j.result_key, j.result_type).where(
            j.spend_id.in_(spend_ids)
        )
    ).all()
    links = {
        row.spend_id: JobLink(
            id=str(row.id),
            summary=registry.summary(row.feature, row.params),
            status=row.status,
            has_result=row.result_key is not None and row.status in ("succeeded", "canceled"),
            # Results kept before their type was recorded were all PNG images.
            result_type=row.result_type or ("image/png" if row.result_key else None),
            params=row.params,
            working=getattr(registry.find(row.feature), "working", "Running"),
        )
        for row in rows
    }
    return [replace(e, job=links.get(e.id)) if e.kind == "spend" else e for e in entries]


def _with_lots(entries: list[Entry]) -> list[Entry]:
    """Name the lots behind the page's lines with one query for the whole page (none when no
    line needs it): the lots each held or captured spend drew from, and the lot each
    `expired` or `voided` adjustment ended."""
    spend_ids = [e.id for e in entries if e.kind == "spend" and e.status != "released"]
    ended_ids = [e.id for e in entries if e.ended_lot]
    if not spend_ids and not ended_ids:
        return entries
    found = lots.behind(spend_ids, ended_ids)
    named = []
    for e in entries:
        if e.kind == "spend" and e.id in found.draws:
            e = replace(e, drawn_from=found.draws[e.id])
        elif e.ended_lot and e.by_support:
            # A void made in the staff console: its reason first, in the words the customer reads.
            what = lots.ended(e.status, -e.amount, found.ended[e.id], "") if e.id in found.ended else ""
            e = replace(
                e, description=f"Adjusted by support: {e.description}" + (f" — {what}" if what else "")
            )
        elif e.ended_lot and e.id in found.ended:
            e = replace(e, description=lots.ended(e.status, -e.amount, found.ended[e.id], e.description))
        named.append(e)
    return named


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _with_keys(entries: list[Entry]) -> list[Entry]:
    """Name the API key behind each spend a key made, with one query (none without spends)."""
    spend_ids = [e.id for e in entries if e.kind == "spend"]
    if not spend_ids:
        return entries
    rows = db.session.execute(
        sa.select(CreditSpend.id, ApiKey.name, ApiKey.prefix)
        .join(ApiKey, ApiKey.id == CreditSpend.api_key_id)
        .where(CreditSpend.id.in_(spend_ids))
    ).all()
    names = {row.id: f"{row.name} ({row.prefix})" for row in rows}
    return [replace(e, api_key=names.get(e.id)) if e.kind == "spend" else e for e in entries]


def _with_spenders(entries: list[Entry]) -> list[Entry]:
    """Name who made each spend ("Name <e-mail>", or the e-mail alone), with one query."""
    user_ids = {e.user_id for e in entries if e.kind == "spend" and e.user_id is not None}
    if not user_ids:
        return entries
    rows = db.session.execute(sa.select(User.id, User.name, User.email).where(User.id.in_(user_ids))).all()
    names = {row.id: who(row.name, row.email) for row in rows}
    return [replace(e, spent_by=names.get(e.user_id)) if e.kind == "spend" else e for e in entries]


@dataclass(frozen=True)
class Bought:
    """What a user has bought in all: credits, and the money per currency."""

    credits: int
    money: dict[str, int]
    purchases: int


def bought(user_id: int, scope: Scope = PERSONAL) -> Bought:
    """Completed purchases in all into the scope's wallet, from one grouped query."""
    p = CreditPurchase
    rows = db.session.execute(
        sa.select(p.currency, sa.func.sum(p.credits_purchased), sa.func.sum(p.amount_paid), sa.func.count())
        .where(scope.lines(p, user_id), p.status == "completed")
        .group_by(p.currency)
    ).all()
    return Bought(
        credits=sum(int(r[1]) for r in rows),
        money={r[0]: int(r[2]) for r in rows},
        purchases=sum(int(r[3]) for r in rows),
    )
