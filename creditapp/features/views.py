"""Every feature's pages and API, made from what the feature declares (`kit.Feature`).

For a feature with URL segment `<s>` (its `route`, else its `name`) this registers:

- `GET /features/<s>` (`features.<s>_page`): its page, the form generated from its schema
  (or its own template), the price of the default input and the balance;
- `GET /features/<s>/quote` (`features.<s>_quote`): the price fragment for the form's values;
- `POST /features/<s>` (`features.create_<s>`): the form post. htmx gets the job's fragment
  (an instant feature's is already done); without JavaScript, a 303 to the job's page. The
  form carries its own idempotency key (`form_key`, docs/design/ledger.md), so a double
  click starts one job;
- `POST /api/features/<s>` (`features.api_create_<s>`, in `api.py`): JSON in, `spend` scope,
  optional `Idempotency-Key`. A job feature answers 202 with the job; an instant one 200 with the
  job and its result (text and JSON inline, anything else as a URL), or the result's bytes
  when the client's Accept asks for its content type before JSON.

Rate limits (`platform.ratelimits`: every POST under `/features/` and `/api/features/`
shares the spend budget), key scopes and monthly key limits (checked with the hold, under
the wallet lock: `ledger.job_holds`) and the OpenAPI entry (`features.api_spec`) come with it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp.accounts import bearer
from creditapp.features import api, forms, inputs, registry, starting
from creditapp.features.kit import Feature
from creditapp.jobs.idempotency import is_form_key, new_form_key
from creditapp.jobs.service import Submission
from creditapp.jobs.views import render_job_fragment
from creditapp.platform import errors
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import is_htmx, trigger, vary_on_htmx
from creditapp.platform.input_checks import InvalidInput, replace_unstorable
from creditapp.teams.context import current_organization, takes_context

PAGE_TEMPLATE = "features/feature.html"
QUOTE_TEMPLATE = "features/_estimate.html"


def _estimate(feature: Feature, params: dict[str, Any]) -> int | None:
    """The price of these parameters, or None when they are not enough to price."""
    try:
        return int(feature.estimate(params, current_app.config))
    except (KeyError, TypeError, ValueError, InvalidInput):
        return None


def _form_context(feature: Feature, raw: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """What a feature's page shows: its fields with what was typed (or the defaults), the
    price of the valid part of it, the balance, and the form's idempotency key."""
    values, valid = forms.shown_values(feature.schema, raw or {})
    params = {**feature.defaults(), **valid}
    # A form sent back with a problem keeps its key: nothing was spent with it.
    form_key = extra.pop("form_key", None)
    if not is_form_key(form_key):
        form_key = new_form_key()
    shown = {name: values.get(name, params.get(name, "")) for name in inputs.properties(feature.schema)}
    # Each field's value under its own name too (a feature's own template reads `prompt`);
    # the page's own names come after, so a field cannot hide them.
    context = {
        **shown,
        "feature": feature,
        "fields": forms.form_fields(feature.schema, values),
        "params": params,
        "cost": _estimate(feature, params),
        "credits": _credits(),
        "org": current_organization(),
        "form_key": form_key,
        **feature.page_context(params, current_app.config),
    }
    return {**context, **extra}


def _credits() -> int:
    """What may be spent in the page's context: the organization's wallet, or the person's own."""
    org = current_organization()
    return org.credits if org is not None else current_user.credits


def _form_idempotency_key(feature: Feature, form: Mapping[str, Any]) -> str | None:
    """The key a form post spends under: its form's key bound to what it asks for.

    A second submit of the same form (a double click, a resent no-JS post) finds the first
    job; the same form changed to ask for something else is a new request, not a 409.
    """
    form_key = form.get("form_key")
    if not form_key:
        return None  # a form rendered before keys existed: nothing to replay
    asked = json.dumps([form.get(name) for name in inputs.properties(feature.schema)])
    return f"form:{form_key}:{hashlib.sha256(asked.encode()).hexdigest()[:16]}"


def page(name: str):
    """The feature's form, with the price of its default input shown before spending."""
    feature = registry.get(name)
    body = render_template(feature.template or PAGE_TEMPLATE, **_form_context(feature))
    return vary_on_htmx(make_response(body))


def quote(name: str):
    """The price fragment for the form's values (`?field=…`), swapped in when they change."""
    feature = registry.get(name)
    try:
        given = inputs.validate(
            feature.schema, forms.from_form(feature.schema, request.args, partial=True), partial=True
        )
    except InvalidInput as exc:
        return error_response(422, str(exc), "invalid_input")
    params = {**feature.defaults(), **given}
    cost = _estimate(feature, params)
    if cost is None:
        return error_response(422, "These values cannot be priced yet.", "invalid_input")
    # The submit button comes along out of band: enabled only when the balance can pay.
    context = {
        **params,
        "feature": feature,
        "params": params,
        "cost": cost,
        "credits": _credits(),
        "org": current_organization(),
    }
    body = render_template(feature.quote_template or QUOTE_TEMPLATE, **{**context, "oob": True})
    response = make_response(body)
    response.headers["Cache-Control"] = "no-store"  # it carries the balance, like the badge
    return response


def create(name: str):
    """Hold credits and start the feature: htmx gets the job's fragment, a form post a 303."""
    feature = registry.get(name)
    raw = forms.from_form(feature.schema, request.form)
    org = current_organization()
    status, details = starting.start(
        feature, raw, _form_idempotency_key(feature, request.form), org.wallet_id if org else None
    )
    if status in (200, 202):
        submission: Submission = details["submission"]
        if is_htmx():
            # The form's key is renewed once the result is shown (the fragment sends a fresh
            # one when the job ends); until then a second click finds this job.
            fragment = render_job_fragment(submission.job, submission.replayed, in_form=True)
            response = make_response(fragment, 202 if feature.mode == "job" else 200)
        else:
            response = redirect(url_for("jobs.job_page", job_id=submission.job.id), 303)
    elif is_htmx():
        response = make_response(render_template("features/_problem.html", status=status, **details), status)
    else:
        context = _form_context(feature, _typed(feature, request.form), form_key=request.form.get("form_key"))
        body = render_template(feature.template or PAGE_TEMPLATE, **{**context, "status": status, **details})
        response = make_response(body, status)
    # A hold moved the balance, and a 402 shows it: refresh the badge.
    if status in (200, 202, 402):
        trigger(response, "credits-changed")
    return vary_on_htmx(response)


def _typed(feature: Feature, form: Mapping[str, Any]) -> dict[str, Any]:
    """What was typed in the form, with any character no database stores (a 422's reason) marked."""
    raw = forms.from_form(feature.schema, form)
    return {key: replace_unstorable(value) if isinstance(value, str) else value for key, value in raw.items()}


def render_form_again(name: str, status: int, message: str, code: str) -> str:
    """The feature's form as the person sent it, with why it was refused (no JavaScript)."""
    feature = registry.get(name)
    context = _form_context(feature, _typed(feature, request.form), form_key=request.form.get("form_key"))
    return render_template(
        feature.template or PAGE_TEMPLATE, **{**context, "status": status, "error": code, "message": message}
    )


VIEWS: tuple[tuple[str, str, Callable[..., Any], str], ...] = (
    # (rule, endpoint, view, method); {s} is the feature's URL segment
    ("/features/{s}", "{s}_page", page, "GET"),
    ("/features/{s}/quote", "{s}_quote", quote, "GET"),
    ("/features/{s}", "create_{s}", create, "POST"),
    ("/api/features/{s}", "api_create_{s}", api.api_create, "POST"),
)


def _view_for(feature: Feature, view: Callable[..., Any], endpoint: str) -> Callable[..., Any]:
    """`view` bound to one feature, under a name of its own (the rate limiter and the
    OpenAPI document key views by name; the docstring is the operation's summary)."""
    name = feature.name

    def bound():
        return view(name)

    bound.__name__ = bound.__qualname__ = endpoint
    bound.__module__ = view.__module__
    first = (view.__doc__ or "").strip().splitlines()[0]
    bound.__doc__ = f"{feature.title}: {first[0].lower()}{first[1:]}"
    if view is api.api_create:
        return login_required(bearer.requires_scope("spend")(bound))
    return login_required(takes_context(bound))


def register(app: Flask, features: list[Feature]) -> None:
    """Serve each feature's pages and API; a refused form post comes back as the form."""
    for feature in features:
        for rule, endpoint, view, method in VIEWS:
            name = endpoint.format(s=feature.segment)
            app.add_url_rule(
                rule.format(s=feature.segment),
                f"features.{name}",
                _view_for(feature, view, name),
                methods=[method],
            )
        errors.keep_form(
            f"features.create_{feature.segment}", functools.partial(render_form_again, feature.name)
        )
