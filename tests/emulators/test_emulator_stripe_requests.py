"""Requests the Stripe stand-in must refuse the way Stripe does, derived from Stripe's own spec.

For every route the stand-in serves and every parameter Stripe's spec lists for it:

- a valid value (built from the spec's schema) is either honoured or, for a parameter the
  stand-in does not implement, refused with a 400 that says so; never ``parameter_unknown``
  (Stripe knows the name), never a 5xx;
- a value of the wrong type (derived from the spec's type) is refused with Stripe's error:
  ``parameter_invalid_integer``, ``parameter_unknown`` for an unknown nested name, a 400
  naming the parameter for a bad boolean, enum, string or hash;
- an unknown name is ``parameter_unknown`` on every route, and a missing required one
  ``parameter_missing``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from .stripe_spec import TOTALS, Fidelity, spec

NOT_IMPLEMENTED = "does not implement"
BOGUS = "bogus_field"


@dataclass
class Ids:
    """Real objects for the routes' path parameters."""

    product: str
    price: str
    session: str
    open_session: str
    intent: str
    charge: str
    refund: str
    dispute: str
    event: str
    endpoint: str
    customer: str
    payment_method: str
    invoice: str
    draft_invoice: str
    open_invoice: str


@pytest.fixture
def ids(emulator, stripe_client, create_session, price_ids) -> Ids:
    session = create_session()
    intent = emulator.pay(session.id)["session"]["payment_intent"]
    charge = stripe_client.v1.payment_intents.retrieve(intent).latest_charge
    disputed = emulator.pay(create_session().id)["session"]["payment_intent"]
    dispute = emulator.dispute(stripe_client.v1.payment_intents.retrieve(disputed).latest_charge)
    refund = stripe_client.v1.refunds.create(params={"charge": charge, "amount": 1})
    price = stripe_client.v1.prices.retrieve(price_ids["credits_500"])
    endpoint = stripe_client.v1.webhook_endpoints.list().data[0]
    customer = stripe_client.v1.customers.create(params={"email": "probe@example.com"})
    saving = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 1}],
            "customer": customer.id,
            "payment_intent_data": {"setup_future_usage": "off_session"},
            "success_url": "http://127.0.0.1:5999/ok",
        }
    )
    saved = emulator.pay(saving.id)["session"]["payment_intent"]
    method = stripe_client.v1.payment_intents.retrieve(saved).payment_method
    invoices = stripe_client.v1.invoices
    drafts = [invoices.create(params={"customer": customer.id}) for _ in range(3)]
    for draft in drafts:
        stripe_client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": draft.id, "price": price.id}
        )
    invoices.finalize_invoice(drafts[1].id)
    invoices.pay(drafts[2].id, params={"payment_method": method, "off_session": True})
    return Ids(
        product=price.product,
        price=price.id,
        session=session.id,
        open_session=create_session().id,
        intent=intent,
        charge=charge,
        refund=refund.id,
        dispute=dispute["id"],
        event=stripe_client.v1.events.list().data[0].id,
        endpoint=endpoint.id,
        customer=customer.id,
        payment_method=method,
        invoice=drafts[2].id,
        draft_invoice=drafts[0].id,
        open_invoice=drafts[1].id,
    )


def concrete(ids: Ids) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each spec route → (the URL path with real ids, the parameters a valid call needs)."""
    session_base = {
        "mode": "payment",
        "line_items": [{"price": ids.price, "quantity": 1}],
        "success_url": "http://127.0.0.1:5999/ok",
    }
    return {
        "GET /v1/products": ("/v1/products", {}),
        "POST /v1/products": ("/v1/products", {"name": "Fidelity pack"}),
        "GET /v1/products/{id}": (f"/v1/products/{ids.product}", {}),
        "GET /v1/prices": ("/v1/prices", {}),
        "POST /v1/prices": ("/v1/prices", {"currency": "usd", "unit_amount": 100, "product": ids.product}),
        "GET /v1/prices/{price}": (f"/v1/prices/{ids.price}", {}),
        "POST /v1/prices/{price}": (f"/v1/prices/{ids.price}", {}),
        "POST /v1/checkout/sessions": ("/v1/checkout/sessions", session_base),
        "GET /v1/checkout/sessions": ("/v1/checkout/sessions", {}),
        "GET /v1/checkout/sessions/{session}": (f"/v1/checkout/sessions/{ids.session}", {}),
        "GET /v1/checkout/sessions/{session}/line_items": (
            f"/v1/checkout/sessions/{ids.session}/line_items",
            {},
        ),
        "POST /v1/checkout/sessions/{session}/expire": (
            f"/v1/checkout/sessions/{ids.open_session}/expire",
            {},
        ),
        "GET /v1/payment_intents": ("/v1/payment_intents", {}),
        "GET /v1/payment_intents/{intent}": (f"/v1/payment_intents/{ids.intent}", {}),
        "POST /v1/payment_intents": ("/v1/payment_intents", {"amount": 500, "currency": "usd"}),
        "POST /v1/customers": ("/v1/customers", {}),
        "GET /v1/customers/{customer}": (f"/v1/customers/{ids.customer}", {}),
        "GET /v1/payment_methods": ("/v1/payment_methods", {"customer": ids.customer}),
        "GET /v1/payment_methods/{payment_method}": (f"/v1/payment_methods/{ids.payment_method}", {}),
        "POST /v1/payment_methods/{payment_method}/detach": ("/v1/payment_methods/pm_missing/detach", {}),
        "GET /v1/charges": ("/v1/charges", {}),
        "GET /v1/charges/{charge}": (f"/v1/charges/{ids.charge}", {}),
        "GET /v1/charges/{charge}/refunds": (f"/v1/charges/{ids.charge}/refunds", {}),
        "POST /v1/refunds": ("/v1/refunds", {"charge": ids.charge, "amount": 1}),
        "GET /v1/refunds": ("/v1/refunds", {}),
        "GET /v1/refunds/{refund}": (f"/v1/refunds/{ids.refund}", {}),
        "GET /v1/disputes": ("/v1/disputes", {}),
        "GET /v1/disputes/{dispute}": (f"/v1/disputes/{ids.dispute}", {}),
        "POST /v1/disputes/{dispute}/close": (f"/v1/disputes/{ids.dispute}/close", {}),
        "GET /v1/events": ("/v1/events", {}),
        "GET /v1/events/{id}": (f"/v1/events/{ids.event}", {}),
        "POST /v1/webhook_endpoints": (
            "/v1/webhook_endpoints",
            {"url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"]},
        ),
        "GET /v1/webhook_endpoints": ("/v1/webhook_endpoints", {}),
        "GET /v1/webhook_endpoints/{webhook_endpoint}": (f"/v1/webhook_endpoints/{ids.endpoint}", {}),
        "POST /v1/webhook_endpoints/{webhook_endpoint}": (f"/v1/webhook_endpoints/{ids.endpoint}", {}),
        "DELETE /v1/webhook_endpoints/{webhook_endpoint}": ("/v1/webhook_endpoints/we_missing", {}),
        "POST /v1/invoiceitems": ("/v1/invoiceitems", {"customer": ids.customer}),
        "POST /v1/invoices": ("/v1/invoices", {"customer": ids.customer}),
        "GET /v1/invoices/{invoice}": (f"/v1/invoices/{ids.invoice}", {}),
        "POST /v1/invoices/{invoice}/finalize": (f"/v1/invoices/{ids.draft_invoice}/finalize", {}),
        "POST /v1/invoices/{invoice}/pay": (
            f"/v1/invoices/{ids.open_invoice}/pay",
            {"payment_method": ids.payment_method, "off_session": True},
        ),
    }


def companions(ids: Ids) -> dict[tuple[str, str], dict[str, Any]]:
    """Parameters Stripe takes only beside another (``customer_update`` needs ``customer``)."""
    return {("POST /v1/checkout/sessions", "customer_update"): {"customer": ids.customer}}


def encode(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Form-encode nested parameters as the SDK does: ``a[b][0]=v``, booleans as ``true``."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            pairs += encode(value, name)
        elif isinstance(value, list):
            pairs += encode(dict(enumerate(value)), name)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


class Client:
    """Raw form-encoded calls, as the SDK makes them, whose answers are checked as Stripe's."""

    def __init__(self, base_url: str, found: Fidelity) -> None:
        self.base_url = base_url
        self.found = found
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = "Bearer sk_test_requests"

    def call(self, route: str, path: str, params: dict[str, Any]) -> requests.Response:
        method = route.split()[0]
        pairs = encode(params)
        if method == "POST":
            answer = self.http.post(self.base_url + path, data=pairs, timeout=10)
        else:
            answer = self.http.request(method, self.base_url + path, params=pairs, timeout=10)
        if answer.status_code >= 500:
            self.found.mismatches.append(f"{route} {pairs}: HTTP {answer.status_code}")
        else:
            self.found.check(answer.json(), f"{route} {pairs}")
        return answer


@pytest.fixture
def client(emulator) -> Client:
    return Client(emulator.base_url, Fidelity())


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec()["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a parameter allows, without Stripe's ``""`` (unset) alternative."""
    schema = resolve(schema)
    options = [resolve(b) for b in schema.get("anyOf", [schema])]
    return [b for b in options if b.get("enum") != [""]] or options


def sample(schema: dict[str, Any], name: str = "") -> Any:
    """A valid value for a request parameter, built from its spec schema (and its name)."""
    first = branches(schema)[0]
    if "enum" in first:
        return next(v for v in first["enum"] if v != "")
    kind = first.get("type", "string")
    if kind == "object":
        properties = first.get("properties", {})
        if not properties:
            return {"key": "value"}
        names = first.get("required") or [next(iter(properties))]
        return {field: sample(properties[field], field) for field in names}
    if kind == "array":
        return [sample(first.get("items", {"type": "string"}), name)]
    if kind == "integer":
        return int(time.time()) + 7200 if first.get("format") == "unix-time" else 1
    if kind == "boolean":
        return True
    if name == "url" or name.endswith("_url"):
        return "http://127.0.0.1:9/x"
    if "email" in name:
        return "someone@example.com"
    return "x"


def mistyped(name: str, schema: dict[str, Any]) -> tuple[Any, str, str | None]:
    """A wrongly typed value → (value, the param Stripe names, the code Stripe gives)."""
    options = branches(schema)
    kinds = {b.get("type", "string") if "enum" not in b else "enum" for b in options}
    hashes = [b for b in options if b.get("type") == "object" and b.get("properties")]
    if hashes:
        return {BOGUS: "1"}, f"{name}[{BOGUS}]", "parameter_unknown"
    if any(b.get("type") == "object" for b in options):  # a map such as metadata
        return "not-a-hash", name, None
    if kinds == {"integer"}:
        return "x", name, "parameter_invalid_integer"
    if kinds == {"boolean"}:
        return "maybe", name, None
    if kinds == {"enum"}:
        return "not_a_stripe_value", name, None
    if kinds == {"array"}:
        item = branches(options[0].get("items", {}))[0]
        if item.get("type") == "object" and item.get("properties"):
            return [{BOGUS: "1"}], f"{name}[0][{BOGUS}]", "parameter_unknown"
        return {BOGUS: "1"}, name, None  # a hash where a list belongs: "Invalid array"
    return {BOGUS: "1"}, name, None


def nested_probes(name: str, schema: dict[str, Any], current: Any) -> list[tuple[str, Any]]:
    """One value per nested field of a hash (or of a list of hashes) → (its path, the value)."""
    first = branches(schema)[0]
    in_list = first.get("type") == "array"
    shape = branches(first.get("items", {}))[0] if in_list else first
    properties = shape.get("properties") if shape.get("type") == "object" else None
    if not properties:
        return []
    if current is None:
        current = sample(schema, name)
    start = current[0] if in_list else current
    probes = []
    for field_name, field_schema in properties.items():
        value = {**start, field_name: sample(field_schema, field_name)}
        probes.append(
            (
                f"{name}[0][{field_name}]" if in_list else f"{name}[{field_name}]",
                [value] if in_list else value,
            )
        )
    return probes


def spec_parameters(route: str) -> dict[str, Any]:
    description = spec()["routes"][route]
    return description["body"] if route.startswith("POST") else description["query"]


ROUTES = sorted(spec()["routes"])


def test_every_route_the_stand_in_serves_is_in_stripes_spec():
    from emulators import create_app

    served = {
        f"{method} {rule.rule.replace('<', '{').replace('>', '}')}"
        for rule in create_app({"webhooks_enabled": False}).url_map.iter_rules()
        if rule.rule.startswith("/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    # Path parameters are named as Stripe names them, up to the name itself.
    normalised = {route.split("{")[0] for route in ROUTES}
    assert {route.split("{")[0] for route in served} == normalised
    assert len(served) == len(ROUTES)


@pytest.mark.parametrize("route", ROUTES)
def test_each_stripe_parameter_is_honoured_or_refused_as_not_implemented(route, ids, client):
    path, base = concrete(ids)[route]
    honoured, refused = [], []
    for name, schema in spec_parameters(route).items():
        value = sample(schema, name)
        with_companions = {**base, **companions(ids).get((route, name), {})}
        answer = client.call(route, path, {**with_companions, name: value})
        error = answer.json().get("error", {}) if answer.status_code < 500 else {}
        client.found.requests += 1
        _each_enum_value(client, route, path, with_companions, name, schema)
        if answer.status_code == 400 and NOT_IMPLEMENTED in error.get("message", ""):
            # The refusal names the parameter, or the nested one the sample filled in.
            if error.get("param") != name and not str(error.get("param")).startswith(f"{name}["):
                client.found.mismatches.append(f"{route} {name}: refusal names {error.get('param')}")
            refused.append(name)
        elif error.get("code") == "parameter_unknown":
            client.found.mismatches.append(f"{route} {name}={value!r}: Stripe has it, stand-in says unknown")
        elif answer.status_code >= 500 or answer.status_code not in (200, 400, 404):
            client.found.mismatches.append(f"{route} {name}: HTTP {answer.status_code}")
        elif _valid_value_refused(error, name):
            client.found.mismatches.append(f"{route} {name}={value!r}: a valid value refused: {error}")
        else:
            honoured.append(name)
            _probe_nested(client, route, path, with_companions, name, schema)
    client.found.honoured += len(honoured)
    client.found.unimplemented += len(refused)
    TOTALS.add(client.found)
    assert client.found.mismatches == []
    assert honoured or not spec_parameters(route)


@pytest.mark.parametrize("route", ROUTES)
def test_wrongly_typed_values_are_refused_with_stripes_errors(route, ids, client):
    path, base = concrete(ids)[route]
    for name, schema in spec_parameters(route).items():
        if _not_implemented(client, route, path, base, name, schema):
            continue
        value, param, code = mistyped(name, schema)
        answer = client.call(route, path, {**base, name: value})
        client.found.requests += 1
        error = answer.json().get("error", {}) if answer.status_code < 500 else {}
        expected = (400, param, code)
        if (answer.status_code, error.get("param"), error.get("code")) != expected:
            client.found.mismatches.append(
                f"{route} {name}={value!r}: expected {expected}, got {answer.status_code} {error}"
            )
    TOTALS.add(client.found)
    assert client.found.mismatches == []


@pytest.mark.parametrize("route", ROUTES)
def test_an_unknown_parameter_is_parameter_unknown_on_every_route(route, ids, client):
    path, base = concrete(ids)[route]

    answer = client.call(route, path, {**base, BOGUS: "1"})

    client.found.requests += 1
    TOTALS.add(client.found)
    assert client.found.mismatches == []
    error = answer.json()["error"]
    assert (answer.status_code, error["code"], error["param"]) == (400, "parameter_unknown", BOGUS)
    assert error["message"] == f"Received unknown parameter: {BOGUS}"


@pytest.mark.parametrize("route", [r for r in ROUTES if spec()["routes"][r]["required"]])
def test_a_missing_required_parameter_is_parameter_missing(route, ids, client):
    path, base = concrete(ids)[route]
    for name in spec()["routes"][route]["required"]:
        answer = client.call(route, path, {k: v for k, v in base.items() if k != name})
        client.found.requests += 1
        error = answer.json()["error"]
        assert (answer.status_code, error["code"], error["param"]) == (400, "parameter_missing", name)
    TOTALS.add(client.found)
    assert client.found.mismatches == []


def test_nested_unknown_parameters_are_named_in_full(ids, client):
    path, base = concrete(ids)["POST /v1/checkout/sessions"]

    answer = client.call(
        "POST /v1/checkout/sessions",
        path,
        {**base, "line_items": [{"price": ids.price, "quantity": 1, BOGUS: 1}]},
    )

    error = answer.json()["error"]
    assert (answer.status_code, error["code"], error["param"]) == (
        400,
        "parameter_unknown",
        f"line_items[0][{BOGUS}]",
    )
    assert client.found.mismatches == []


def _valid_value_refused(error: dict[str, Any], name: str) -> bool:
    """True when a 400 blames the probed parameter's (valid) value itself.

    A made-up id is fine to refuse (``resource_missing``), and so is a value Stripe accepts
    but whose meaning the stand-in does not implement.
    """
    if name == "expand" or not str(error.get("param", "")).startswith(name):
        return False  # an expand path is valid only for some objects: a made-up one is refused
    return error.get("code") != "resource_missing" and NOT_IMPLEMENTED not in error.get("message", "")


def _each_enum_value(client: Client, route: str, path: str, base: dict, name: str, schema: dict) -> None:
    """Every value of a Stripe enum is accepted, or refused as not implemented."""
    values = [v for b in branches(schema) for v in b.get("enum", []) if v != ""]
    for value in values:
        answer = client.call(route, path, {**base, name: value})
        client.found.requests += 1
        error = answer.json().get("error", {}) if answer.status_code < 500 else {}
        if _valid_value_refused(error, name) or error.get("code") == "parameter_unknown":
            client.found.mismatches.append(f"{route} {name}={value!r}: a valid value refused: {error}")


def _probe_nested(client: Client, route: str, path: str, base: dict, name: str, schema: dict) -> None:
    """Each field of an implemented hash is implemented or refused as not implemented."""
    for label, value in nested_probes(name, schema, base.get(name)):
        answer = client.call(route, path, {**base, name: value})
        client.found.requests += 1
        error = answer.json().get("error", {}) if answer.status_code < 500 else {}
        if error.get("code") == "parameter_unknown":
            client.found.mismatches.append(f"{route} {label}: Stripe has it, stand-in says unknown ({error})")
        elif NOT_IMPLEMENTED in error.get("message", ""):
            client.found.unimplemented += 1
        else:
            client.found.honoured += 1


def _not_implemented(client: Client, route: str, path: str, base: dict, name: str, schema: dict) -> bool:
    """True when the stand-in refuses the parameter as one it does not implement."""
    answer = client.call(route, path, {**base, name: sample(schema, name)})
    if answer.status_code != 400:
        return False
    error = answer.json()["error"]
    return NOT_IMPLEMENTED in error.get("message", "") and error.get("param") == name
