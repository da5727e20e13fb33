"""Automatic top-up settings: the saved payment method (saved at Checkout, removed by
detaching), and the threshold, pack and monthly cap the person chose. Nothing here moves credits.

Settings belong to a wallet: the person's own (`user_id` alone), or an organization's
(`wallet_id`, saved by one of its owners or admins, whose purchases its top-ups are recorded
under; the card is on the organization's Stripe Customer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import stripe

from creditapp.billing.packs import Pack
from creditapp.billing.payment_methods import MethodSummary
from creditapp.ledger.triggers import settings_table
from creditapp.models import CreditPurchase, User, personal_wallet, utcnow
from creditapp.platform import stripe_client
from creditapp.platform.clock import month_start
from creditapp.platform.sql import conflict_insert
from creditapp.platform.transactions import read, write

log = logging.getLogger("creditapp.recharge")

purchases = CreditPurchase.__table__
users = User.__table__


class TopupRefused(Exception):
    """The settings cannot be saved as asked (no card, a value out of range); nothing changed."""


@dataclass(frozen=True)
class TopupSettings:
    """What the auto top-up page shows."""

    enabled: bool
    threshold: int
    stripe_price_id: str | None
    pack_credits: int | None
    pack_amount: int | None
    currency: str | None
    monthly_cap: int
    card_brand: str | None
    card_last4: str | None
    consecutive_failures: int
    disabled_reason: str | None
    this_month: int  # top-ups pending or completed this calendar month (UTC)
    payment_method: MethodSummary | None = None  # the saved method, of any type

    @property
    def has_card(self) -> bool:
        """Whether a payment method is saved (a card, Link or a bank debit)."""
        return self.payment_method is not None

    @property
    def can_top_up(self) -> bool:
        """Whether the saved method can pay automatic top-ups (payment_methods.TOP_UP_TYPES)."""
        return self.payment_method is not None and self.payment_method.can_top_up


DEFAULTS = TopupSettings(False, 100, None, None, None, None, 3, None, None, 0, None, 0)


# --- the settings page ------------------------------------------------------------------------


def _wallet(user_id: int, wallet_id: int | None) -> int | sa.ScalarSelect:
    """The wallet the settings are for: `wallet_id`, else the person's own."""
    return wallet_id if wallet_id is not None else personal_wallet(user_id)


def settings_for(user_id: int, wallet_id: int | None = None) -> TopupSettings:
    """The auto top-up settings of the person's wallet, or of `wallet_id` (the defaults when never set)."""
    wallet = _wallet(user_id, wallet_id)
    with read() as session:
        row = session.execute(
            sa.select(settings_table).where(settings_table.c.wallet_id == wallet)
        ).one_or_none()
        count = session.execute(
            sa.select(sa.func.count())
            .select_from(purchases)
            .where(
                purchases.c.wallet_id == wallet,
                purchases.c.source == "auto_recharge",
                purchases.c.status.in_(("pending", "completed")),
                purchases.c.created_at >= month_start(utcnow()),
            )
        ).scalar_one()
    if row is None:
        return DEFAULTS
    return TopupSettings(
        row.enabled,
        row.threshold,
        row.stripe_price_id,
        row.pack_credits,
        row.pack_amount,
        row.currency,
        row.monthly_cap,
        row.card_brand,
        row.card_last4,
        row.consecutive_failures,
        row.disabled_reason,
        count,
        _summary(row),
    )


def _summary(row: Any) -> MethodSummary | None:
    """The saved method; a card saved before summaries were stored is read from its columns."""
    if row.payment_method_id is None:
        return None
    return MethodSummary.from_json(row.payment_method) or MethodSummary(
        "card", brand=row.card_brand, last4=row.card_last4
    )


def update_settings(
    user_id: int, enabled: bool, threshold: int, pack: Pack, monthly_cap: int, wallet_id: int | None = None
) -> None:
    """Save threshold, pack and cap; switching on needs a saved card and clears a past switch-off.

    With `wallet_id` (an organization's), `user_id` is the owner or admin saving them.
    """
    if not 0 <= threshold <= 1_000_000:
        raise TopupRefused("The threshold must be between 0 and 1,000,000 credits.")
    if not 1 <= monthly_cap <= 100:
        raise TopupRefused("The monthly cap must be between 1 and 100 top-ups.")
    current = settings_for(user_id, wallet_id)
    if enabled and not current.has_card:
        raise TopupRefused("Save a card first: buy a pack with “Save this card for automatic top-ups”.")
    if enabled and not current.can_top_up:
        raise TopupRefused(
            f"{current.payment_method.label} cannot pay automatic top-ups: a bank debit takes days "
            "to settle. Save a card or Link instead: buy a pack and tick “Save this card”."
        )
    values: dict[str, Any] = {
        "enabled": enabled,
        "threshold": threshold,
        "stripe_price_id": pack.price_id,
        "pack_credits": pack.credits,
        "pack_amount": pack.unit_amount,
        "currency": pack.currency,
        "monthly_cap": monthly_cap,
        "updated_at": utcnow(),
    }
    if enabled:
        values.update(consecutive_failures=0, disabled_reason=None)
    if wallet_id is not None:
        values["user_id"] = user_id  # who saved them: its top-ups are recorded under them
    _upsert(user_id, wallet_id, values)


def remove_card(user_id: int, wallet_id: int | None = None) -> bool:
    """Detach the saved card at Stripe and forget it; auto top-up goes off. False: no card."""
    with read() as session:  # ended before Stripe is asked
        method = session.execute(
            sa.select(settings_table.c.payment_method_id).where(
                settings_table.c.wallet_id == _wallet(user_id, wallet_id)
            )
        ).scalar_one_or_none()
    if method is None:
        return False
    try:
        stripe_client.client().v1.payment_methods.detach(method)
    except stripe.InvalidRequestError as exc:
        # Already detached (or gone): forgetting it here is all that is left to do.
        log.info("payment method %s was not attached: %s", method, exc.code)
    _upsert(
        user_id,
        wallet_id,
        {
            "payment_method_id": None,
            "payment_method": None,
            "card_brand": None,
            "card_last4": None,
            "enabled": False,
        },
    )
    return True


def switch_off(user_id: int, reason: str, wallet_id: int | None = None) -> bool:
    """Switch automatic top-up off (as three failures would), keeping the card; False if it was off.

    The person sees `reason` on the top-up page and may switch it on again.
    """
    with write() as session:
        switched = session.execute(
            sa.update(settings_table)
            .where(
                settings_table.c.wallet_id == _wallet(user_id, wallet_id), settings_table.c.enabled.is_(True)
            )
            .values(enabled=False, disabled_reason=reason[:255], updated_at=utcnow())
        )
    return switched.rowcount == 1


def _upsert(user_id: int, wallet_id: int | None, values: dict[str, Any]) -> None:
    with write() as session:
        session.execute(
            conflict_insert(settings_table)
            .values(
                **{
                    "user_id": user_id,
                    "wallet_id": _wallet(user_id, wallet_id),
                    "updated_at": utcnow(),
                    **values,
                }
            )
            .on_conflict_do_update(index_elements=["wallet_id"], set_=values)
        )


# --- keeping the method a Checkout payment saved -------------------------------------------------


def save_payment_method(wallet_id: int, user_id: int, method_id: str, summary: MethodSummary) -> None:
    """Keep the method a Checkout payment saved for the top-ups of the wallet it paid into, by
    the person who paid (idempotent: the same method again is a no-op).

    A method top-ups cannot charge is kept and shown, and switches automatic top-up off.
    """
    card = summary.type == "card"
    values: dict[str, Any] = {
        "payment_method_id": method_id,
        "payment_method": summary.to_json(),
        "card_brand": summary.brand if card else None,
        "card_last4": summary.last4 if card else None,
        "consecutive_failures": 0,
        "updated_at": utcnow(),
    }
    update = dict(values)
    if not summary.can_top_up:
        values["enabled"] = False
        update["enabled"] = sa.false()
        # Say why only to someone who had it on: it was switched off for them.
        update["disabled_reason"] = sa.case(
            (settings_table.c.enabled, f"{summary.label} cannot pay automatic top-ups"[:255]),
            else_=settings_table.c.disabled_reason,
        )
    with write() as session:
        session.execute(
            conflict_insert(settings_table)
            .values(user_id=user_id, wallet_id=wallet_id, **values)
            .on_conflict_do_update(index_elements=["wallet_id"], set_=update)
        )
