"""Routes of the OpenAI stand-in (Images here, Responses in `responses.py`) and its controls.

Answers like OpenAI's Images API: `POST /openai/v1/images/generations` with a Bearer key
and `{"model","prompt","n","size","response_format"?}` → `{"created", "data": [{"b64_json"}]}`;
errors as `{"error": {"message","type","param","code"}}`. The picture is drawn from the
prompt (a gradient), at the requested size.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from typing import Any

from flask import Blueprint, jsonify, request
from PIL import Image

from . import responses
from .state import OpenAIState, current_state

bp = Blueprint("openai", __name__)
bp.register_blueprint(responses.bp)

SIZES = {"256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536", "auto"}
FIELDS = {"model", "prompt", "n", "size", "response_format", "quality", "style", "user", "background"}


@bp.record_once
def _attach_state(setup_state: Any) -> None:
    setup_state.app.extensions["openai"] = OpenAIState()


def _error(status: int, message: str, type_: str, param: str | None = None, code: str | None = None):
    return jsonify(error={"message": message, "type": type_, "param": param, "code": code}), status


@bp.post("/openai/v1/images/generations")
def generate():
    """Make one picture after `latency_seconds`, or fail with `failure_status` at `failure_rate`."""
    state = current_state()
    body = request.get_json(silent=True)
    state.record(dict(request.headers), body)
    if not (request.headers.get("Authorization") or "").startswith("Bearer "):
        return _error(401, "You didn't provide an API key.", "invalid_request_error", code="invalid_api_key")
    if not isinstance(body, dict):
        return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        return _error(400, f"Unrecognized request argument supplied: {unknown[0]}", "invalid_request_error")
    prompt, size = body.get("prompt"), body.get("size", "1024x1024")
    if not isinstance(prompt, str) or not prompt:
        return _error(400, "Missing required parameter: 'prompt'.", "invalid_request_error", "prompt")
    if size not in SIZES:
        return _error(400, f"Invalid value for 'size': {size!r}.", "invalid_request_error", "size")
    if body.get("response_format", "b64_json") not in ("b64_json", "url"):
        return _error(400, "Invalid value for 'response_format'.", "invalid_request_error", "response_format")
    config = state.settings()
    if config["latency_seconds"] > 0:
        time.sleep(config["latency_seconds"])
    if state.should_fail():
        status = config["failure_status"]
        kind = "server_error" if status >= 500 else "invalid_request_error"
        if status == 429:
            kind = "rate_limit_error"
        return _error(status, f"The stand-in failed this request on purpose ({status}).", kind)
    side = 1024 if size == "auto" else int(size.split("x")[0])
    return jsonify(created=int(time.time()), data=[{"b64_json": _picture(prompt, side)}])


def _picture(prompt: str, side: int) -> str:
    """A two-colour gradient chosen by the prompt, as base64 PNG."""
    digest = hashlib.sha256(prompt.encode()).digest()
    top = Image.new("RGB", (side, side), tuple(digest[:3]))
    bottom = Image.new("RGB", (side, side), tuple(digest[3:6]))
    picture = Image.composite(bottom, top, Image.linear_gradient("L").resize((side, side)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _number(low: float, high: float, *, whole: bool = False, optional: bool = False):
    """A check for a number in [low, high] (an integer if `whole`; also null if `optional`)."""
    kinds = int if whole else int | float
    return lambda v: (
        (optional and v is None) or (isinstance(v, kinds) and not isinstance(v, bool) and low <= v <= high)
    )


CHECKS = {
    "latency_seconds": _number(0, 600),
    "failure_rate": _number(0, 1),
    "failure_status": _number(400, 599, whole=True),
    "responses_first_token_seconds": _number(0, 600),
    "responses_tokens_per_second": lambda v: v is None or _number(0.01, 100_000)(v),
    "responses_output_tokens": _number(1, 100_000, whole=True, optional=True),
    "responses_failure_rate": _number(0, 1),
    "responses_failure_status": _number(400, 599, whole=True),
    "responses_fail_after_tokens": _number(0, 100_000, whole=True, optional=True),
}


@bp.route("/_emulator/openai/config", methods=["GET", "POST"])
def config():
    """Read or change the settings.

    Images: `latency_seconds`, `failure_rate` (0–1), `failure_status` (4xx/5xx). Responses:
    `responses_first_token_seconds`, `responses_tokens_per_second` (null: unpaced),
    `responses_output_tokens` (null: drawn from the prompt), `responses_failure_rate`,
    `responses_failure_status`, `responses_fail_after_tokens` (null: never).
    """
    state = current_state()
    if request.method == "GET":
        return jsonify(state.config)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="bad_request", message="Send a JSON object."), 400
    for key, value in body.items():
        if key not in CHECKS:
            return jsonify(error="bad_request", message=f"Unknown setting: {key}"), 400
        if not CHECKS[key](value):
            return jsonify(error="bad_request", message=f"Invalid value for {key}: {value!r}"), 400
    return jsonify(state.configure(body))


@bp.get("/_emulator/openai/requests")
def requests_seen():
    """Every image generation request so far: its Authorization header and JSON body."""
    state = current_state()
    with state.lock:
        return jsonify(list(state.requests))


@bp.get("/_emulator/openai/responses")
def responses_seen():
    """Every `/responses` call so far: id, Authorization, body, outcome and deltas sent."""
    state = current_state()
    with state.lock:
        return jsonify([dict(entry) for entry in state.responses])


@bp.post("/_emulator/openai/reset")
def reset():
    """Back to the default settings, no requests seen."""
    state = current_state()
    state.reset()
    return jsonify(state.settings())
