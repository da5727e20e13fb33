"""What staff may do: each action checks its form, says what it will do, then acts through the
ledger or the domain's own function (never by editing a row).

One file per kind: `credits` (the ledger: a customer's wallet or an organization's),
`account` (jobs, keys, top-ups, sign-in), `payments` (Stripe); `base` is what they share.
"""

from __future__ import annotations

from creditapp.staff.actions import account, credits, payments
from creditapp.staff.actions.base import CUSTOMER, ORGANIZATION, Action, Checked, Refused, Target, find_target

__all__ = ["ACTIONS", "CUSTOMER", "ORGANIZATION", "Action", "Checked", "Refused", "Target", "find_target"]

# The credit actions and revoking a key act on any wallet: a customer's or an organization's.
WALLETS = (CUSTOMER, ORGANIZATION)

ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("grant", "Grant credits", True, credits.check_grant, on=WALLETS),
        Action("take_back", "Take credits back", True, credits.check_take_back, on=WALLETS),
        Action("void_lot", "Void a lot", True, credits.check_void_lot, on=WALLETS),
        Action("release_hold", "Release a stuck hold", False, credits.check_release_hold),
        Action("cancel_job", "Cancel a job", False, account.check_cancel_job),
        Action("revoke_key", "Revoke an API key", True, account.check_revoke_key, on=WALLETS),
        Action("switch_topup_off", "Switch automatic top-up off", True, account.check_switch_topup_off),
        Action("sign_out_everywhere", "Sign out everywhere", True, account.check_sign_out_everywhere),
        Action("refund", "Refund a purchase", False, payments.check_refund),
        Action("replay_event", "Replay a Stripe event", False, payments.check_replay_event, on=()),
    )
}
