"""What staff may do: each action checks its form, says what it will do, then acts through the
ledger or the domain's own function (never by editing a row).

One file per kind: `credits` (the ledger), `account` (jobs, keys, top-ups, sign-in),
`payments` (Stripe); `base` is what they share.
"""

from __future__ import annotations

from creditapp.staff.actions import account, credits, payments
from creditapp.staff.actions.base import Action, Checked, Refused

__all__ = ["ACTIONS", "Action", "Checked", "Refused"]

ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("grant", "Grant credits", True, credits.check_grant),
        Action("take_back", "Take credits back", True, credits.check_take_back),
        Action("void_lot", "Void a lot", True, credits.check_void_lot),
        Action("release_hold", "Release a stuck hold", False, credits.check_release_hold),
        Action("cancel_job", "Cancel a job", False, account.check_cancel_job),
        Action("revoke_key", "Revoke an API key", True, account.check_revoke_key),
        Action("switch_topup_off", "Switch automatic top-up off", True, account.check_switch_topup_off),
        Action("sign_out_everywhere", "Sign out everywhere", True, account.check_sign_out_everywhere),
        Action("refund", "Refund a purchase", False, payments.check_refund),
        Action(
            "replay_event", "Replay a Stripe event", False, payments.check_replay_event, per_customer=False
        ),
    )
}
