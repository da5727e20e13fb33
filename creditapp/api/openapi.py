"""`GET /api/openapi.json`: the OpenAPI 3.1 description of every `/api/…` route.

Built with apispec from the app itself: the paths and their methods come from the URL map
(apispec's Flask plugin turns `<uuid:job_id>` into `{job_id}`), each summary from the
view's docstring, each operation's security and its 401/403 answers from the view's
`requires_scope`. What the code cannot say (bodies, answers) is declared per endpoint by
the domain that serves it, in its `api_spec.py` (`DECLARING`), and only assembled here;
each registered feature's spend endpoint is generated from its schema
(`features.api_spec.generated`). Building the document fails on an `/api/` route or method
without a declaration, a declaration without a route, or one declared twice, so the two
cannot drift apart.
"""

from __future__ import annotations

import copy
from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Flask, current_app, jsonify

from creditapp.accounts import api_spec as accounts_spec
from creditapp.features import api_spec as features_spec
from creditapp.features import registry
from creditapp.history import api_spec as history_spec
from creditapp.jobs import api_spec as jobs_spec
from creditapp.platform import api_spec as platform_spec
from creditapp.platform.api_spec import CHALLENGE, error_answer

bp = Blueprint("openapi", __name__)

DOCUMENT_KEY = "creditapp.api.openapi"
SAFE_METHODS = {"HEAD", "OPTIONS"}


class DescriptionMismatch(RuntimeError):
    """An `/api/` route without a description, a description without a route, or one declared twice."""


# The document's own route; every other `/api/` route is declared by the domain that serves it.
DOCUMENT_OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "openapi.document": {
        "get": {
            "tags": ["meta"],
            "security": [],
            "responses": {
                "401": error_answer(
                    "A malformed, unknown or revoked key was sent (none is needed).", CHALLENGE
                ),
                "200": {
                    "description": "This document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
        }
    },
}

# The modules that declare `/api/` routes (OPERATIONS) and the schemas they refer to (SCHEMAS).
DECLARING = (platform_spec, accounts_spec, features_spec, jobs_spec, history_spec)


def _assemble(name: str, here: dict[str, Any]) -> dict[str, Any]:
    """`here` and each declaring module's `name` (SCHEMAS or OPERATIONS) in one dict; no key twice."""
    assembled = dict(here)
    for module in DECLARING:
        for key, value in getattr(module, name).items():
            if key in assembled:
                raise DescriptionMismatch(f"{key} is declared twice (again in {module.__name__})")
            assembled[key] = value
    return assembled


SCHEMAS: dict[str, dict[str, Any]] = _assemble("SCHEMAS", {})
# endpoint -> method -> what the code alone cannot say.
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = _assemble("OPERATIONS", DOCUMENT_OPERATIONS)


def _scoped(operation: dict[str, Any], view: Any) -> dict[str, Any]:
    """Add what the view's `requires_scope` says: security, 401 and 403."""
    scopes = getattr(view, "api_scopes", None)
    if scopes is None:
        return operation
    needed = [s for s in (scopes["scope"], scopes["own_jobs"]) if s]
    words = " or ".join(
        f"`{s}`" + (" (jobs the key started)" if s == scopes["own_jobs"] else "") for s in needed
    )
    operation["security"] = [{"apiKey": [s]} for s in needed] + [{"session": []}]
    operation["description"] = (operation.get("description", "") + f" Key scope: {words}.").strip()
    responses = operation.setdefault("responses", {})
    responses["401"] = error_answer(
        "No key or session, or the key is malformed, unknown or revoked.", CHALLENGE
    )
    responses["403"] = error_answer(
        "The key lacks the scope this needs, or names a wallet (`org`) other than its own (`wrong_wallet`).",
        CHALLENGE,
    )
    return operation


def api_rules(app: Flask) -> dict[str, set[str]]:
    """Endpoint -> its methods (less HEAD and OPTIONS), for every `/api/` rule."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            found.setdefault(rule.endpoint, set()).update(
                m.lower() for m in (rule.methods or ()) - SAFE_METHODS
            )
    return found


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `app`; raises DescriptionMismatch when code and declarations differ."""
    routed = api_rules(app)
    feature_schemas, feature_operations = features_spec.generated(registry.every(app))
    for name in (*feature_schemas, *feature_operations):
        if name in SCHEMAS or name in OPERATIONS:
            raise DescriptionMismatch(f"{name} is declared twice (again by a feature)")
    schemas = {**SCHEMAS, **feature_schemas}
    operations_by_endpoint = {**OPERATIONS, **feature_operations}
    declared = {endpoint: set(methods) for endpoint, methods in operations_by_endpoint.items()}
    if routed != declared:
        raise DescriptionMismatch(f"routes {routed} != described {declared}")
    spec = APISpec(
        title="creditapp API",
        version="1",
        openapi_version="3.1.0",
        plugins=[FlaskPlugin()],
        info={
            "description": "Spend prepaid credits from code. Authenticate with "
            "`Authorization: Bearer <key>` (create keys at /account/api-keys)."
        },
        servers=[{"url": app.config.get("APP_BASE_URL") or "/"}],
    )
    spec.components.security_scheme(
        "apiKey",
        {"type": "http", "scheme": "bearer", "description": "An API key: `ca_test_…` or `ca_live_…`."},
    )
    spec.components.security_scheme(
        "session",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": "session",
            "description": "The browser session (send X-CSRFToken on POST).",
        },
    )
    for name, schema in schemas.items():
        spec.components.schema(name, schema)
    for endpoint, methods in sorted(operations_by_endpoint.items()):
        view = app.view_functions[endpoint]
        operations = {}
        for method, declared_op in methods.items():
            operation = copy.deepcopy(declared_op)
            operation.setdefault("summary", (view.__doc__ or "").strip().splitlines()[0])
            operation["operationId"] = endpoint.replace(".", "_")
            operations[method] = _scoped(operation, view)
        spec.path(view=view, operations=operations, app=app)
    return spec.to_dict()


@bp.get("/api/openapi.json")
def document():
    """The OpenAPI 3.1 description of the JSON API."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if DOCUMENT_KEY not in app.extensions:
        app.extensions[DOCUMENT_KEY] = build(app)
    return jsonify(app.extensions[DOCUMENT_KEY])
