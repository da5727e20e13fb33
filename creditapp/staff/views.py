"""The console's pages: search, a customer, an organization, an action's confirmation and outcome,
the trail."""

from __future__ import annotations

from typing import NamedTuple

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user

from creditapp import ledger
from creditapp.history.entries import BadCursor
from creditapp.models import AdminAction
from creditapp.platform.errors import error_response
from creditapp.platform.money import format_money
from creditapp.staff import actions, customers, operations, organizations, trail

bp = Blueprint("staff", __name__, url_prefix="/admin")


@bp.get("/")
def search_page():
    """One box: find a customer by e-mail, name, user id or a Stripe id, and organizations by
    name, id or a member's e-mail."""
    query = request.args.get("q", "").strip()
    found = customers.search(query) if query else []
    found_organizations = organizations.search(query) if query else []
    return render_template(
        "staff/search.html", query=query, found=found, found_organizations=found_organizations
    )


@bp.get("/customers/<int:user_id>")
def customer_page(user_id: int):
    """Everything about one customer's money, and the actions staff may take."""
    try:
        shown = customers.customer(user_id, before=request.args.get("before") or None)
    except BadCursor:
        return error_response(400, "That link to older ledger entries is not valid.")
    if shown is None:
        abort(404)
    return render_template(
        "staff/customer.html",
        customer=shown,
        actions=actions.ACTIONS,
        topup_failures=customers.topup_failures(user_id),
        trail=trail.page(customer_user_id=user_id, limit=20),
        dashboard_url=customers.dashboard_url,
        is_stuck_hold=customers.is_stuck_hold,
        money=format_money,
    )


@bp.get("/organizations/<int:org_id>")
def organization_page(org_id: int):
    """Everything about one organization's wallet and people, and the credit actions on its wallet."""
    try:
        shown = organizations.organization(org_id, before=request.args.get("before") or None)
    except BadCursor:
        return error_response(400, "That link to older ledger entries is not valid.")
    if shown is None:
        abort(404)
    return render_template(
        "staff/organization.html",
        shown=shown,
        trail=trail.page(organization_id=org_id, limit=20),
        dashboard_url=customers.dashboard_url,
        money=format_money,
    )


class Back(NamedTuple):
    """Where "Back" and "Cancel" lead from an action's pages: the target's page, or operations."""

    url: str
    words: str


def _back_to(target: actions.Target | None) -> Back:
    if target is None:
        return Back(url_for("staff.operations_page"), "Back to operations")
    if target.is_organization:
        return Back(url_for("staff.organization_page", org_id=target.id), "Back to the organization")
    return Back(url_for("staff.customer_page", user_id=target.id), "Back to the customer")


def _refused(target: actions.Target | None, action: actions.Action, refusal: actions.Refused):
    return (
        render_template("staff/refused.html", back=_back_to(target), action=action, message=refusal.message),
        refusal.status,
    )


@bp.post("/customers/<int:user_id>/actions/<name>")
def act(user_id: int, name: str):
    """An action on one customer: first POST asks to confirm, the second acts (once)."""
    return _act_on(actions.CUSTOMER, user_id, name)


@bp.post("/organizations/<int:org_id>/actions/<name>")
def act_on_organization(org_id: int, name: str):
    """A credit action on one organization's wallet, confirmed the same way."""
    return _act_on(actions.ORGANIZATION, org_id, name)


def _act_on(kind: str, target_id: int, name: str):
    action = actions.ACTIONS.get(name)
    if action is None or kind not in action.on:
        abort(404)
    target = actions.find_target(kind, target_id)
    if target is None:
        abort(404)
    return _confirm_or_act(action, target)


@bp.post("/actions/<name>")
def act_on_system(name: str):
    """An action on no one customer (replaying a Stripe event), confirmed the same way."""
    action = actions.ACTIONS.get(name)
    if action is None or action.on:
        abort(404)
    return _confirm_or_act(action, None)


def _same_target(done: AdminAction, target: actions.Target | None) -> bool:
    """Whether a trail row was written for this target (a token is good for one target only)."""
    if target is None:
        return done.customer_user_id is None and done.target_type != actions.ORGANIZATION
    if target.is_organization:
        return (done.target_type, done.target_id) == (actions.ORGANIZATION, str(target.id))
    return done.customer_user_id == target.id


def _confirm_or_act(action: actions.Action, target: actions.Target | None):
    """First POST: check the form and ask to confirm (with a one-time token). Second: act, once."""
    back = _back_to(target)
    token = request.form.get("token", "").strip()[:64]
    if token:
        done = trail.find(token)
        if done is not None:  # a double submit: show what the first did
            if done.action != action.name or not _same_target(done, target):
                refusal = actions.Refused("That confirmation was for another action.", 409)
                return _refused(target, action, refusal)
            return render_template("staff/done.html", back=back, action=action, done=done, again=True)
    reason = request.form.get("reason", "").strip()
    try:
        if not reason:
            raise actions.Refused("Give a reason: it goes into the trail and into History.", 400)
        if len(reason) > 500:
            raise actions.Refused("Keep the reason under 500 characters.", 400)
        checked = action.check(target, request.form)
    except actions.Refused as refusal:
        return _refused(target, action, refusal)
    bound_to = target.key if target is not None else None
    if not token:
        fields = {key: value for key, value in request.form.items() if key not in ("csrf_token", "token")}
        return render_template(
            "staff/confirm.html",
            action_url=url_for(request.endpoint, **request.view_args),  # post the confirmation back here
            back=back,
            action=action,
            checked=checked,
            fields=fields,
            token=trail.new_token(action.name, bound_to, checked.parameters, reason),
        )
    if not trail.token_matches(token, action.name, bound_to, checked.parameters, reason):
        refusal = actions.Refused(
            "This confirmation does not match what was asked (it changed since): start again.", 409
        )
        return _refused(target, action, refusal)
    actor = current_user.id
    customer_user_id = target.id if target is not None and not target.is_organization else None
    asked = trail.Request(
        action.name,
        actor,
        customer_user_id,
        checked.target_type,
        checked.target_id,
        checked.parameters,
        reason,
        token,
    )
    try:
        done, acted = trail.perform(asked, lambda: checked.act(actor, reason, token), action.joined)
    except actions.Refused as refusal:
        return _refused(target, action, refusal)
    return render_template("staff/done.html", back=back, action=action, done=done, again=not acted)


@bp.get("/audit")
def audit_page():
    """Every staff action, newest first, fifty a page."""
    before = request.args.get("before", type=int)
    lines = trail.page(before_id=before, limit=trail.PAGE_SIZE)
    next_before = lines[-1].action.id if len(lines) == trail.PAGE_SIZE else None
    return render_template("staff/audit.html", lines=lines, next_before=next_before)


@bp.get("/operations")
def operations_page():
    """What needs a look across all customers; with `?audit=1`, the ledger audit's findings too."""
    findings = ledger.audit() if request.args.get("audit") == "1" else None
    return render_template(
        "staff/operations.html",
        ops=operations.gather(),
        findings=findings,
        replay=actions.ACTIONS["replay_event"],
        money=format_money,
    )
