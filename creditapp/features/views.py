"""Every feature's pages and API, made from what the feature declares (`kit.Feature`).

For a feature with URL segment `<s>` (its `route`, else its `name`) this registers:

- `GET /features/<s>` (`features.<s>_page`): its page, the form generated from its schema
  (or its own template), the price of the default input and the balance;
- `GET /features/<s>/quote` (`features.<s>_quote`): the price fragment for the form's values;
- `POST /features/<s>` (`features.create_<s>`): the form post. htmx gets the job's fragment
  (an instant feature's is already done); without JavaScript, a 303 to the job's page. The
  form carries its own idempotency key (`form_key`, docs/design/ledger.md), so a double
  click starts one job;
- `POST /api/features/<s>` (`features.api_create_<s>`): JSON in, `spend` scope, optional
  `Idempotency-Key`. A job feature answers 202 with the job; an instant one 200 with the
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

from flask import Flask, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp import ledger
from creditapp.accounts import bearer
from creditapp.features import inputs, registry
from creditapp.features.kit import Feature
from creditapp.jobs import records, results
from creditapp.jobs.idempotency import IdempotencyConflict, is_form_key, new_form_key
from creditapp.jobs.service import Submission, submit
from creditapp.jobs.views import job_json, render_job_fragment
from creditapp.ledger.key_limits import KeyLimitReached, KeyRevoked
from creditapp.platform import errors
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import is_htmx, trigger, vary_on_htmx
from creditapp.platform.input_checks import InvalidInput, replace_unstorable

PAGE_TEMPLATE = "features/feature.html"
QUOTE_TEMPLATE = "features/_estimate.html"


def _insufficient_message(exc: ledger.InsufficientCredits) -> str:
    """Why the spend was refused, in words; a negative balance explains itself."""
    if exc.balance < 0:
        return (
            "Your balance is negative because a purchase was refunded; buy credits to continue. "
            f"You have {exc.balance} credits and this needs {exc.required}."
        )
    return f"Not enough credits: this needs {exc.required} and you have {exc.balance}."


def _estimate(feature: Feature, params: dict[str, Any]) -> int | None:
    """The price of these parameters, or None when they are not enough to price."""
    try:
        return int(feature.estimate(params, current_app.config))
    except (KeyError, TypeError, ValueError, InvalidInput):
        return None


def _form_context(feature: Feature, raw: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """What a feature's page shows: its fields with what was typed (or the defaults), the
    price of the valid part of it, the balance, and the form's idempotency key."""
    values, valid = inputs.shown_values(feature.schema, raw or {})
    params = {**feature.defaults(), **valid}
    # A form sent back with a problem keeps its key: nothing was spent with it.
    form_key = extra.pop("form_key", None)
    if not is_form_key(form_key):
        form_key = new_form_key()
    shown = {name: values.get(name, params.get(name, "")) for name in inputs.properties(feature.schema)}
    context = {
        "feature": feature,
        "fields": inputs.form_fields(feature.schema, values),
        "params": params,
        "cost": _estimate(feature, params),
        "credits": current_user.credits,
        "form_key": form_key,
        **shown,
        **feature.page_context(params, current_app.config),
    }
    return {**context, **extra}


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
            feature.schema, inputs.from_form(feature.schema, request.args, partial=True), partial=True
        )
    except InvalidInput as exc:
        return error_response(422, str(exc), "invalid_input")
    params = {**feature.defaults(), **given}
    cost = _estimate(feature, params)
    if cost is None:
        return error_response(422, "These values cannot be priced yet.", "invalid_input")
    # The submit button comes along out of band: enabled only when the balance can pay.
    body = render_template(
        feature.quote_template or QUOTE_TEMPLATE,
        feature=feature,
        params=params,
        cost=cost,
        credits=current_user.credits,
        oob=True,
        **params,
    )
    response = make_response(body)
    response.headers["Cache-Control"] = "no-store"  # it carries the balance, like the badge
    return response


def _attempt(feature: Feature, raw: Mapping[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
    """Hold the credits and queue the job (run it, for an instant feature); (HTTP status,
    details) for either renderer."""
    user_id = current_user.id  # read before the ledger commits and expires the loaded user
    try:
        submission = submit(
            user_id,
            feature.name,
            raw,
            key,
            api_key_id=bearer.current_key_id(),
            idempotency_scope=bearer.idempotency_scope(),
        )
    except InvalidInput as exc:
        return 422, {"error": "invalid_input", "message": str(exc), "field": exc.field}
    except ledger.InsufficientCredits as exc:
        return 402, {
            "error": "insufficient_credits",
            "message": _insufficient_message(exc),
            "credits": exc.balance,
            "required": exc.required,
        }
    except KeyLimitReached as exc:
        return 402, {
            "error": "key_limit_reached",
            "message": f"This API key may spend {exc.limit} credits a month; it has spent {exc.spent} "
            f"this month and this needs {exc.required}.",
            "limit": exc.limit,
            "spent": exc.spent,
            "required": exc.required,
        }
    except KeyRevoked:
        return 401, {"error": "invalid_token", "message": "This API key was revoked."}
    except IdempotencyConflict as exc:
        return 409, {"error": exc.code, "message": str(exc), "spend_id": exc.spend_id}
    # 202 while the job is queued or running; one that has ended (a replay, an instant feature) 200.
    status = 200 if submission.job.ended else 202
    return status, {"submission": submission}


def create(name: str):
    """Hold credits and start the feature: htmx gets the job's fragment, a form post a 303."""
    feature = registry.get(name)
    raw = inputs.from_form(feature.schema, request.form)
    status, details = _attempt(feature, raw, _form_idempotency_key(feature, request.form))
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
    raw = inputs.from_form(feature.schema, form)
    return {key: replace_unstorable(value) if isinstance(value, str) else value for key, value in raw.items()}


def render_form_again(name: str, status: int, message: str, code: str) -> str:
    """The feature's form as the person sent it, with why it was refused (no JavaScript)."""
    feature = registry.get(name)
    return render_template(
        feature.template or PAGE_TEMPLATE,
        status=status,
        error=code,
        message=message,
        **_form_context(feature, _typed(feature, request.form), form_key=request.form.get("form_key")),
    )


def _example(feature: Feature) -> str:
    example = {
        key: spec.get("default", spec.get("enum", [spec.get("type", "…")])[0])
        for key, spec in inputs.properties(feature.schema).items()
        if key in (feature.schema.get("required") or ())
    }
    return json.dumps(example)


def api_create(name: str):
    """Use the feature: JSON in, an optional Idempotency-Key; 202 with the queued job, or
    (an instant feature) 200 with the job and its result."""
    feature = registry.get(name)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(
            400, f"Send a JSON object such as {_example(feature)} with Content-Type: application/json."
        )
    status, details = _attempt(feature, body, request.headers.get("Idempotency-Key"))
    if status not in (200, 202):
        response = make_response(jsonify(details), status)
        if status == 401:
            response.headers["WWW-Authenticate"] = bearer.INVALID_CHALLENGE
        if status == 402:
            trigger(response, "credits-changed")
        return response
    submission: Submission = details["submission"]
    job = submission.job
    if feature.mode == "instant" and job.status == "failed":
        body = {"error": job.error or "failed", "message": job.error_message or "", "job": job_json(job)}
        response = make_response(jsonify(body), 502)
    elif feature.mode == "instant" and job.has_result and _wants_bytes(job):
        response = _result_bytes(job)
    else:
        response = make_response(jsonify(job_json(job)), status)
    response.headers["Location"] = url_for("jobs.api_job", job_id=job.id)
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        trigger(response, "credits-changed")
    return response


def _wants_bytes(job: records.Job) -> bool:
    """The client's Accept prefers the result's own content type to JSON."""
    kind = (job.result_type or "").split(";", 1)[0].strip()
    accept = request.accept_mimetypes
    return bool(kind) and kind != "application/json" and accept[kind] > accept["application/json"]


def _result_bytes(job: records.Job):
    data = results.read(current_app.config, job.result_key) if job.result_key else None
    if data is None:
        return error_response(410, "This result was past its keeping time and has been deleted.", "gone")
    response = make_response(data, 200)
    response.headers["Content-Type"] = job.result_type
    response.headers["Cache-Control"] = "private, no-store"
    return response


VIEWS: tuple[tuple[str, str, Callable[..., Any], str], ...] = (
    # (rule, endpoint, view, method); {s} is the feature's URL segment
    ("/features/{s}", "{s}_page", page, "GET"),
    ("/features/{s}/quote", "{s}_quote", quote, "GET"),
    ("/features/{s}", "create_{s}", create, "POST"),
    ("/api/features/{s}", "api_create_{s}", api_create, "POST"),
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
    if view is api_create:
        return login_required(bearer.requires_scope("spend")(bound))
    return login_required(bound)


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
