"""The hosted Checkout page at a session's ``url``, plus the same actions as JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template_string, request

from ..context import current
from . import payments
from .errors import StripeError

bp = Blueprint("checkout_page", __name__)

# Styled like a hosted checkout: the order on one side, one primary Pay button on the
# other, the other test outcomes as quieter buttons. Field names stay `action` (form) and
# `outcome` (JSON). No scripts, no external files: the page works offline.
STYLE = """
:root{color-scheme:light dark;--fg:#1a1f36;--muted:#5a6176;--bg:#f6f8fa;--card:#fff;--line:#e3e8ee;
--accent:#635bff;--on-accent:#fff;--danger:#b3261e;--banner:#fff4cc;--banner-fg:#3d2e00;--focus:#0a3a9e}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9f0;--muted:#a9b1c2;--bg:#12151c;--card:#1b1f29;
--line:#343a48;--accent:#a5a0ff;--on-accent:#12151c;--danger:#ff8a80;--banner:#3d3000;--banner-fg:#fff4cc;--focus:#ffc94d}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
.banner{margin:0;padding:.4rem 1rem;text-align:center;font-size:.9rem;background:var(--banner);color:var(--banner-fg)}
main{max-width:56rem;margin:0 auto;padding:1.5rem 1rem;display:grid;gap:2rem;grid-template-columns:1fr}
@media (min-width:760px){main{grid-template-columns:1fr 1fr;padding-top:3rem}}
.merchant{font-weight:600;color:var(--muted);margin:0}.amount{font-size:2.25rem;font-weight:700;margin:.25rem 0 1rem}
.items{list-style:none;padding:0;margin:0;border-top:1px solid var(--line)}
.items li{display:flex;justify-content:space-between;padding:.6rem 0;border-bottom:1px solid var(--line)}
.total{display:flex;justify-content:space-between;font-weight:600;padding:.6rem 0}
.pay{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:1.25rem}
h1,h2{font-size:1.15rem;margin:0 0 .75rem}label{display:block;font-weight:600;margin:.75rem 0 .25rem;font-size:.9rem}
input{font:inherit;width:100%;padding:.55rem .6rem;border:1px solid var(--line);border-radius:.4rem;background:var(--card);color:var(--fg)}
.card-test{font-family:ui-monospace,monospace;color:var(--muted)}
button{font:inherit;cursor:pointer;border-radius:.4rem}
.primary{display:block;width:100%;margin:1.25rem 0 .75rem;padding:.75rem;border:0;background:var(--accent);color:var(--on-accent);font-weight:600;font-size:1.05rem}
fieldset{border:1px solid var(--line);border-radius:.4rem;margin:1rem 0 .5rem;padding:.5rem .75rem}
legend{font-size:.85rem;color:var(--muted);padding:0 .25rem}
.secondary{margin:.25rem .5rem .25rem 0;padding:.4rem .75rem;background:transparent;color:var(--fg);border:1px solid var(--line)}
.back{background:none;border:0;padding:0;color:var(--accent);text-decoration:underline}
.error{color:var(--danger);font-weight:600}.note{color:var(--muted);font-size:.9rem}
a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Checkout · creditapp (local Stripe)</title><style>{{ style }}</style></head>
<body><header><p class="banner">Test mode — local Stripe stand-in. No real money moves.</p></header>
<main>
<section aria-labelledby="order-heading">
<p class="merchant">creditapp</p>
<h1 id="order-heading">Pay creditapp</h1>
<p class="amount" id="amount">{{ money(session.amount_total) }}</p>
<ul class="items">{% for item in items %}<li><span>{{ item.quantity }} &times; {{ item.description }}</span>
 <span>{{ money(item.amount_total) }}</span></li>{% endfor %}</ul>
<p class="total"><span>Total due</span><span>{{ money(session.amount_total) }}</span></p>
</section>
<section class="pay" aria-labelledby="pay-heading">
{% if message %}<p class="error" role="alert">{{ message }}</p>{% endif %}
{% if session.status == "open" %}
<h2 id="pay-heading">Pay with card</h2>
<form method="post">
<label for="email">Email</label>
<input id="email" type="email" value="{{ session.customer_email or '' }}" readonly>
<p class="note">Card <span class="card-test">4242 4242 4242 4242</span> (a test card: nothing is charged).</p>
<label for="discount_percent">Discount % (promotion code)</label>
<input id="discount_percent" type="number" name="discount_percent" min="0" max="100">
<button type="submit" class="primary" name="action" value="pay">Pay</button>
<fieldset><legend>Other test outcomes</legend>
<button type="submit" class="secondary" name="action" value="pay_delayed" formnovalidate>Pay with a delayed method</button>
<button type="submit" class="secondary" name="action" value="decline" formnovalidate>Decline</button>
</fieldset>
<button type="submit" class="back" name="action" value="cancel" formnovalidate>Cancel</button>
<span class="note"> and go back to creditapp</span>
</form>
{% else %}
<h2 id="pay-heading">{{ {"complete": "This checkout is complete", "expired": "This checkout has expired"}.get(session.status, "This checkout is closed") }}</h2>
<p>This Checkout Session is {{ session.status }} ({{ session.payment_status }}).</p>
{% if session.status == "complete" and session.success_url %}<p><a href="{{ done_url }}">Back to creditapp</a></p>
{% elif session.cancel_url %}<p><a href="{{ session.cancel_url }}">Back to creditapp</a></p>{% endif %}
{% endif %}
</section>
</main></body></html>"""

FORM_ACTIONS = {"pay": "succeeded", "pay_delayed": "async_pending", "decline": "declined"}


def success_redirect(session: dict[str, Any]) -> str:
    """Return the success URL with ``{CHECKOUT_SESSION_ID}`` filled in."""
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


def _money(session: dict[str, Any]):
    currency = session["currency"]
    symbol = "$" if currency == "usd" else currency.upper() + " "
    return lambda cents: f"{symbol}{cents / 100:,.2f}"


def _render(session: dict[str, Any], message: str = "", status: int = 200):
    store = current().store
    html = render_template_string(
        PAGE,
        session=session,
        items=store.line_items.get(session["id"], []),
        money=_money(session),
        message=message,
        style=STYLE,
        done_url=success_redirect(session) if session.get("success_url") else "",
    )
    return html, status


@bp.get("/c/pay/<session_id>")
def show(session_id: str):
    """Show the amount and the Pay / delayed / Decline / Cancel buttons."""
    store = current().store
    with store.lock:
        session = store.objects["checkout.session"].get(session_id)
        if session is None:
            return "<!doctype html><title>Not found</title><h1>Checkout Session not found</h1>", 404
        return _render(session)


@bp.post("/c/pay/<session_id>")
def act(session_id: str):
    """Pay, decline or cancel: a browser form gets redirects, a JSON body gets JSON."""
    if request.is_json:
        return _act_json(session_id, request.get_json(silent=True) or {})
    store = current().store
    action = request.form.get("action", "")
    with store.lock:
        session = store.objects["checkout.session"].get(session_id)
        if session is None:
            return "<!doctype html><title>Not found</title><h1>Checkout Session not found</h1>", 404
        if action == "cancel":
            if session["cancel_url"]:
                return redirect(session["cancel_url"], code=303)
            return _render(session, "Checkout cancelled.")
        if action not in FORM_ACTIONS:
            return _render(session, "Unknown action.", 400)
        try:
            payments.pay(
                store,
                session_id,
                FORM_ACTIONS[action],
                discount_percent=request.form.get("discount_percent") or None,
            )
        except StripeError as exc:
            return _render(session, exc.message, 400)
        if action == "decline":
            return _render(session, "Your card was declined (card declined).")
        return redirect(success_redirect(session), code=303)


def _act_json(session_id: str, body: dict[str, Any]):
    store = current().store
    outcome = body.get("outcome", "succeeded")
    with store.lock:
        if outcome in {"canceled", "cancelled"}:
            session = store.get("checkout.session", session_id)
            return jsonify(session=session, redirect_url=session["cancel_url"])
        session = payments.pay(
            store,
            session_id,
            outcome,
            discount_percent=body.get("discount_percent"),
            email=body.get("email"),
        )
        if outcome == "declined":
            error = {
                "type": "card_error",
                "code": "card_declined",
                "message": "Your card was declined.",
            }
            return jsonify(session=session, redirect_url=None, error=error)
        return jsonify(session=session, redirect_url=success_redirect(session))


RECEIPT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Receipt (local Stripe)</title></head>
<body><p>Test mode - local Stripe emulator. No real money moved.</p>
<h1>Receipt</h1><p>Amount: {{ money(charge.amount) }}{% if charge.amount_refunded %},
refunded {{ money(charge.amount_refunded) }}{% endif %}</p>
{% set card = charge.payment_method_details.card %}
<p>Paid with {{ card.brand }} ending {{ card.last4 }}.</p></body></html>"""


@bp.get("/c/receipts/<charge_id>")
def receipt(charge_id: str):
    """Show a charge's receipt, the page its ``receipt_url`` names."""
    store = current().store
    with store.lock:
        charge = store.objects["charge"].get(charge_id)
        if charge is None:
            return "<!doctype html><title>Not found</title><h1>Receipt not found</h1>", 404
        return render_template_string(RECEIPT, charge=charge, money=_money(charge))
