"""``/_emulator/mail``: the inbox as JSON (newest first), or a small page for a browser."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template_string, request

bp = Blueprint("mail", __name__, url_prefix="/_emulator/mail")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mail (local SMTP sink)</title>
<style>body{font-family:sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}
article{border:1px solid #ccc;border-radius:.4rem;padding:.5rem 1rem;margin:1rem 0}
pre{white-space:pre-wrap}.meta{color:#555}</style></head>
<body><main><h1>Mail sent by the app</h1>
<p class="meta">Local SMTP sink: nothing left this machine. Newest first; JSON at this URL
with <code>Accept: application/json</code>.</p>
{% for m in messages %}<article aria-labelledby="m{{ m.id }}">
<h2 id="m{{ m.id }}">{{ m.subject }}</h2>
<p class="meta">To {{ m.to }} · from {{ m.from }} · {{ m.received_at }}
{% if m.html %}· <a href="{{ url_for('mail.html_body', message_id=m.id) }}">HTML version</a>{% endif %}</p>
<pre>{{ m.text }}</pre></article>
{% else %}<p>No mail yet.</p>{% endfor %}</main></body></html>"""

FIELDS = ("id", "to", "from", "subject", "text", "html", "received_at")


def _sink():
    return current_app.extensions["mail_sink"]


@bp.get("")
def inbox():
    """Every message received, newest first (``?to=`` filters by recipient)."""
    messages = _sink().messages(request.args.get("to"))
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    if best == "text/html" and request.args.get("format") != "json":
        return render_template_string(PAGE, messages=messages)
    return jsonify([{name: m[name] for name in FIELDS} for m in messages])


@bp.get("/<message_id>.html")
def html_body(message_id: str):
    """One message's HTML body, as the person's mail program would show it."""
    message = _sink().get(message_id)
    if message is None or not message["html"]:
        return jsonify(error="not_found", message="no such message"), 404
    return message["html"], 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.delete("")
def clear():
    """Empty the inbox."""
    _sink().clear()
    return {"status": "cleared"}
