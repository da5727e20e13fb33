"""The CSV export of a user's ledger: every entry, newest first, with running balances and,
for each spend, the lots it drew from (`drawn_from`), its feature's summary of the use
(`summary`) and what it held (`credits_held`: more than it charged when the work used less),
the API key that made it (`api_key`, empty for the browser) and, in an organization's CSV
that its owners and admins export, who made it (`spent_by`); for each purchase with an
invoice, its tax, number and PDF link. New columns go last, so earlier ones keep their
place; `prompt` and `size` are filled for the features that take them, on the spender's own
spends (history.scope says who sees which lines)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC

from creditapp.history.entries import Entry, page
from creditapp.history.lots import drawn_from_csv
from creditapp.history.scope import PERSONAL, Scope
from creditapp.platform.money import ZERO_DECIMAL


def every_entry(user_id: int, balance: int, batch: int = 500, scope: Scope = PERSONAL) -> Iterator[Entry]:
    """Every entry, newest first, in keyset batches (for the CSV export), with running balances."""
    before = None
    while True:
        found = page(user_id, before=before, limit=batch, show_all=True, balance=balance, scope=scope)
        yield from found.entries
        if found.next_cursor is None:
            return
        before = found.next_cursor


CSV_HEADER = [
    "time_utc",
    "kind",
    "description",
    "status",
    "credits",
    "balance_after",
    "amount",
    "currency",
    "prompt",
    "size",
    "job_id",
    "drawn_from",
    "summary",
    "credits_held",
    "api_key",
    "spent_by",
    "tax",
    "invoice_number",
    "invoice_pdf",
]


def csv_lines(
    user_id: int, balance: int, feature_title: Callable[[str], str], scope: Scope = PERSONAL
) -> Iterator[str]:
    """The CSV export, one line at a time (header first), newest entry first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: list[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(CSV_HEADER)
    for e in every_entry(user_id, balance, scope=scope):
        description = feature_title(e.description) if e.kind == "spend" else e.description
        if e.words:
            description = e.words.csv_description
        elif e.by_support and e.status == "admin":
            description = f"Adjusted by support: {e.description}"  # as History says it: no name
        yield line(
            [
                e.created_at.astimezone(UTC).isoformat(timespec="seconds"),
                e.kind,
                _safe_cell(description),
                e.words.csv_status if e.words else e.status,
                e.amount,
                "" if e.balance_after is None else e.balance_after,
                _major_units(e.money, e.currency),
                (e.currency or "").upper(),
                _safe_cell(e.job.prompt) if e.job else "",
                (e.job.size or "") if e.job else "",
                e.job.id if e.job else "",
                drawn_from_csv(e.drawn_from),
                _safe_cell(e.job.summary) if e.job else "",
                (e.held or "") if e.kind == "spend" else "",
                _safe_cell(e.api_key or ""),
                _safe_cell(e.spent_by or ""),
                _major_units(e.tax, e.currency),
                e.invoice_number or "",
                e.invoice_pdf or "",
            ]
        )


def _safe_cell(text: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (prompts are typed by people)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _major_units(amount: int | None, currency: str | None) -> str:
    """Minor units as a plain number for spreadsheets: 2000 usd -> 20.00, 500 jpy -> 500."""
    if amount is None:
        return ""
    return str(amount) if (currency or "").lower() in ZERO_DECIMAL else f"{amount / 100:.2f}"
