"""Copy from Stripe's OpenAPI description only what the Stripe stand-in's tests need.

    .venv/bin/python scripts/extract_stripe_schemas.py [SPEC] [--sdk DIR]

Reads Stripe's published spec (default ``../shared/stripe-openapi/spec3.json``, falling
back to ``/work/shared/stripe-openapi/spec3.json``) and the installed ``stripe`` SDK, and writes

- ``tests/emulators/stripe_spec.json``: the component schemas of every object the stand-in
  serves (with every schema they reference), the request parameters of every route it
  serves, the fields the SDK's generated classes declare for each object (the SDK speaks a
  newer API version than the spec file: a field it has and the spec lacks is a later
  addition), and the error codes the SDK knows; with the provenance of each source;
- ``emulators/stripe/event_types.py``: every event type a webhook endpoint may subscribe
  to, from the SDK's ``WebhookEndpointCreateParams``.

Run it again after updating the spec or the SDK, and commit both outputs.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "emulators" / "stripe_spec.json"
EVENT_TYPES = ROOT / "emulators" / "stripe" / "event_types.py"
SPEC_CANDIDATES = (
    ROOT.parent / "shared" / "stripe-openapi" / "spec3.json",
    Path("/work/shared/stripe-openapi/spec3.json"),
)

# object name -> the SDK module that defines its class
OBJECTS = {
    "product": "_product.py",
    "price": "_price.py",
    "checkout.session": "checkout/_session.py",
    "item": "_line_item.py",
    "payment_intent": "_payment_intent.py",
    "customer": "_customer.py",
    "payment_method": "_payment_method.py",
    "charge": "_charge.py",
    "refund": "_refund.py",
    "dispute": "_dispute.py",
    "balance_transaction": "_balance_transaction.py",
    "event": "_event.py",
    "webhook_endpoint": "_webhook_endpoint.py",
    "invoice": "_invoice.py",
    "invoiceitem": "_invoice_item.py",
    "line_item": "_invoice_line_item.py",
    "deleted_webhook_endpoint": None,
    "error": None,
}
ROUTES = (
    ("get", "/v1/products"), ("post", "/v1/products"), ("get", "/v1/products/{id}"),
    ("get", "/v1/prices"), ("post", "/v1/prices"), ("get", "/v1/prices/{price}"),
    ("post", "/v1/prices/{price}"), ("post", "/v1/checkout/sessions"),
    ("get", "/v1/checkout/sessions"), ("get", "/v1/checkout/sessions/{session}"),
    ("get", "/v1/checkout/sessions/{session}/line_items"),
    ("post", "/v1/checkout/sessions/{session}/expire"), ("get", "/v1/payment_intents"),
    ("post", "/v1/payment_intents"), ("post", "/v1/customers"), ("get", "/v1/customers/{customer}"),
    ("get", "/v1/payment_methods"), ("get", "/v1/payment_methods/{payment_method}"),
    ("post", "/v1/payment_methods/{payment_method}/detach"),
    ("get", "/v1/payment_intents/{intent}"), ("get", "/v1/charges"),
    ("get", "/v1/charges/{charge}"), ("get", "/v1/charges/{charge}/refunds"),
    ("post", "/v1/refunds"), ("get", "/v1/refunds"), ("get", "/v1/refunds/{refund}"),
    ("get", "/v1/disputes"), ("get", "/v1/disputes/{dispute}"),
    ("post", "/v1/disputes/{dispute}/close"), ("get", "/v1/events"), ("get", "/v1/events/{id}"),
    ("post", "/v1/webhook_endpoints"), ("get", "/v1/webhook_endpoints"),
    ("get", "/v1/webhook_endpoints/{webhook_endpoint}"),
    ("post", "/v1/webhook_endpoints/{webhook_endpoint}"),
    ("delete", "/v1/webhook_endpoints/{webhook_endpoint}"), ("post", "/v1/invoiceitems"),
    ("post", "/v1/invoices"), ("get", "/v1/invoices/{invoice}"),
    ("post", "/v1/invoices/{invoice}/finalize"), ("post", "/v1/invoices/{invoice}/pay"),
)  # fmt: skip


def sha256(path: Path) -> str:
    """Return the file's sha256 in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def trimmed(node: Any, keep: set[str]) -> Any:
    """Drop descriptions, and the expanded form of an expandable field whose object the
    stand-in does not serve (an id string is all it can hold there)."""
    if isinstance(node, list):
        return [trimmed(item, keep) for item in node]
    if not isinstance(node, dict):
        return node
    # Documentation text goes (a property *named* description is a schema, and stays).
    result = {k: trimmed(v, keep) for k, v in node.items() if not (k == "description" and isinstance(v, str))}
    if "x-expansionResources" in node and "anyOf" in result:
        result["anyOf"] = [
            branch
            for branch in result["anyOf"]
            if "$ref" not in branch or branch["$ref"].rsplit("/", 1)[-1] in keep
        ]
        result.pop("x-expansionResources")
    return result


def referenced(schemas: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    """Return ``roots`` and every component schema they reference, transitively."""
    found: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = trimmed(schemas[name], set(roots))
        pending.extend(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(found[name])))
    return dict(sorted(found.items()))


def request_parameters(spec: dict[str, Any]) -> dict[str, Any]:
    """Return, per route, its query parameters and form body schema as the spec gives them."""
    routes = {}
    for method, path in ROUTES:
        operation = spec["paths"][path][method]
        query = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
        form = (
            operation.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
        )
        body = form.get("schema", {})
        routes[f"{method.upper()} {path}"] = {
            "query": query,
            "body": body.get("properties", {}),
            "required": sorted(body.get("required", [])),
        }
    return routes


def sdk_fields(sdk: Path, module: str) -> dict[str, list[str]]:
    """Return the top-level fields the SDK class declares: all of them, and the non-Optional ones."""
    tree = ast.parse((sdk / module).read_text())
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        annotations = {
            item.target.id: ast.unparse(item.annotation)
            for item in node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
        }
        if "object" in annotations and "OBJECT_NAME" in annotations:
            del annotations["OBJECT_NAME"]
            return {
                "fields": sorted(annotations),
                "required": sorted(k for k, v in annotations.items() if not v.startswith("Optional")),
            }
    raise SystemExit(f"no Stripe object class in {module}")


def literal_strings(sdk: Path, module: str, marker: str, anchor: str | None = None) -> list[str]:
    """Return the strings of the first ``Literal[...]`` after ``marker`` (and ``anchor``) in a module."""
    text = (sdk / module).read_text()
    start = text.index(anchor) if anchor else 0
    start = text.index(marker, start)
    literal = text.index("Literal[", start)
    end = text.index("]", literal)
    return re.findall(r'"([^"]+)"', text[literal:end])


def main(argv: list[str] | None = None) -> int:
    """Write the extracted schemas and the event-type list; print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path)
    parser.add_argument("--sdk", type=Path)
    args = parser.parse_args(argv)
    spec_path = args.spec or next((p for p in SPEC_CANDIDATES if p.exists()), None)
    if spec_path is None:
        parser.error("Stripe's spec3.json not found; pass its path")
    import stripe  # the SDK the app uses; its generated classes are the newer truth

    sdk = args.sdk or Path(stripe.__file__).parent
    spec = json.loads(spec_path.read_text())
    schemas = spec["components"]["schemas"]
    codes = literal_strings(sdk, "_payment_intent.py", "code: Optional[", anchor="class LastPaymentError")
    event_types = literal_strings(sdk, "params/_webhook_endpoint_create_params.py", "enabled_events: List[")
    document = {
        "provenance": {
            "spec": {
                "source": "Stripe OpenAPI spec3.json (github.com/stripe/openapi) in shared/stripe-openapi",
                "file": spec_path.name,
                "version": spec["info"]["version"],
                "sha256": sha256(spec_path),
            },
            "sdk": {
                "source": "the stripe Python SDK's generated classes",
                "package": f"stripe=={stripe.VERSION}",
                "api_version": stripe.api_version,
            },
            "generated_by": "scripts/extract_stripe_schemas.py",
        },
        "schemas": referenced(schemas, list(OBJECTS)),
        "sdk_objects": {name: sdk_fields(sdk, module) for name, module in OBJECTS.items() if module},
        "routes": request_parameters(spec),
        "error_codes": sorted(set(codes)),
    }
    OUTPUT.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    types = sorted(set(event_types) - {"*"})
    lines = "".join(f'        "{name}",\n' for name in types)
    EVENT_TYPES.write_text(
        '"""Every event type a webhook endpoint may enable (from scripts/extract_stripe_schemas.py).\n\n'
        f"Source: the enabled_events of WebhookEndpointCreateParams in stripe=={stripe.VERSION}\n"
        f"(API {stripe.api_version}).\n"
        '"""\n\nEVENT_TYPES = frozenset(\n    {\n' + lines + "    }\n)\n"
    )
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(document['schemas'])} schemas, {len(ROUTES)} routes")
    print(f"wrote {EVENT_TYPES.relative_to(ROOT)}: {len(types)} event types")
    return 0


if __name__ == "__main__":
    sys.exit(main())
