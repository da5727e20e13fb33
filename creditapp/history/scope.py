"""Which wallet History, usage and the CSV read, and which of its lines a person sees there.

The personal wallet: every line of it. An organization's wallet (teams, DESIGN §19):

- owners and admins see every line, each spend with who made it (name or e-mail) and which
  API key, or the browser, and the running balance;
- a member sees their own spends and the wallet's grants, debits, expiries and voids (what
  changes what they may spend), not its purchases, refunds or disputes (the money: owners and
  admins buy), not other members' spends, and no running balance (it would count lines they
  do not see).

A spend names its job (the prompt, the result) only to the person who made it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from creditapp.models import CreditAdjustment, CreditSpend, personal_wallet
from creditapp.teams.organizations import MANAGERS

# The adjustments a plain member sees on an organization's History: no money in them.
MEMBER_ADJUSTMENTS = ("admin", "expired", "voided")


@dataclass(frozen=True)
class Scope:
    """A wallet and how much of it the reader sees; the default is the personal wallet."""

    wallet_id: int | None = None  # None: the reader's personal wallet
    every_spend: bool = True  # False: a plain member of the organization

    @property
    def organization(self) -> bool:
        """An organization's wallet, not the reader's own."""
        return self.wallet_id is not None

    @property
    def names_spenders(self) -> bool:
        """Spends say who made them: an organization's owners and admins see every member's."""
        return self.organization and self.every_spend

    @property
    def shows_money(self) -> bool:
        """Purchases, refunds, disputes, what was bought and the running balance are shown."""
        return self.every_spend

    def wallet(self, user_id: int) -> int | sa.ScalarSelect:
        """The wallet's id (a subquery for the personal wallet)."""
        return personal_wallet(user_id) if self.wallet_id is None else self.wallet_id

    def lines(self, model, user_id: int) -> sa.ColumnElement[bool]:
        """The condition on a ledger table (purchases, spends, adjustments) for this reader.

        The personal wallet's lines carry its owner's `user_id`: the condition names it too so
        the (user_id, created_at, id) indexes serve the query, and an organization's lines the
        person wrote (their spends and grants there) stay out.
        """
        if self.wallet_id is None:
            return sa.and_(model.user_id == user_id, model.wallet_id == personal_wallet(user_id))
        if self.every_spend:
            return model.wallet_id == self.wallet_id
        if model is CreditSpend:
            return sa.and_(model.wallet_id == self.wallet_id, model.user_id == user_id)
        if model is CreditAdjustment:
            return sa.and_(model.wallet_id == self.wallet_id, model.reason.in_(MEMBER_ADJUSTMENTS))
        return sa.false()  # purchases: the money is for those who buy


PERSONAL = Scope()


def of_organization(wallet_id: int, role: str) -> Scope:
    """An organization's wallet as a member with `role` sees it."""
    return Scope(wallet_id, role in MANAGERS)
