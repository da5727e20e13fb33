"""Actions on a customer's account, through its domains: cancel a job, revoke a key, switch a
top-up off, sign out everywhere."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from creditapp.accounts import api_keys, org_keys, sessions
from creditapp.jobs import records
from creditapp.jobs import service as jobs
from creditapp.staff.actions.base import Checked, Refused, Target, trail_target, whole_number, whose
from creditapp.topups import settings as topups


def check_cancel_job(customer: Target, form: Mapping[str, str]) -> Checked:
    """Cancel a queued job: it will not run, and its hold is given back."""
    user_id = customer.id
    try:
        job_id = uuid.UUID((form.get("job_id") or "").strip())
    except ValueError:
        raise Refused("That is not a job id.") from None
    job = records.find(job_id, user_id)
    if job is None:
        raise Refused(f"This customer has no job {job_id}.", 404)
    if job.status != "queued":
        raise Refused(f"Job {job_id} is {job.status}: only a queued job can be canceled.")

    def act(actor: int, reason: str, token: str) -> str:
        try:
            jobs.cancel(user_id, job_id)
        except jobs.JobNotCancelable as exc:
            return f"Job {job_id} was {exc.job.status} by then; nothing changed."
        return f"Canceled job {job_id}; its {job.cost:,} credits went back."

    return Checked("job", str(job_id), {"job_id": str(job_id)}, f"Cancel job {job_id} ({job.feature}).", act)


def check_revoke_key(target: Target, form: Mapping[str, str]) -> Checked:
    """Revoke one of the customer's personal API keys, or one of the organization's: programs
    using it stop at once."""
    key_id = whole_number(form, "key_id", "The key", 1, 2**62)
    if target.is_organization:
        key = org_keys.find_org_key(target.wallet_id, key_id)
    else:
        key = api_keys.find_key(target.id, key_id)
    if key is None:
        raise Refused(f"{whose(target)} has no API key {key_id}.", 404)
    if key.revoked_at is not None:
        raise Refused(f"Key {key.prefix}… is revoked already.")

    def act(actor: int, reason: str, token: str) -> str:
        if target.is_organization:
            done = org_keys.revoke_wallet_key(target.wallet_id, key_id)
        else:
            done = api_keys.revoke_key(target.id, key_id)
        return f"Revoked key {key.prefix}…." if done else f"Key {key.prefix}… was revoked already."

    kind, target_id = trail_target(target, "api_key", key_id)
    return Checked(
        kind, target_id, {"key_id": key_id}, f"Revoke the API key “{key.name}” ({key.prefix}…).", act
    )


def check_switch_topup_off(customer: Target, form: Mapping[str, str]) -> Checked:
    """Switch automatic top-up off (the card stays saved; the customer may switch it on again)."""
    user_id = customer.id
    if not topups.settings_for(user_id).enabled:
        raise Refused("Automatic top-up is off already.")

    def act(actor: int, reason: str, token: str) -> str:
        done = topups.switch_off(user_id, "Switched off by support.")
        return "Switched automatic top-up off." if done else "Automatic top-up was off already."

    return Checked("user", str(user_id), {}, "Switch automatic top-up off.", act)


def check_sign_out_everywhere(customer: Target, form: Mapping[str, str]) -> Checked:
    """Sign the customer out on every device."""
    user_id = customer.id

    def act(actor: int, reason: str, token: str) -> str:
        sessions.sign_out_everywhere(user_id)
        return "Signed the customer out everywhere."

    return Checked("user", str(user_id), {}, "Sign the customer out on every device.", act)
