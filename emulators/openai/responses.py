"""`POST /openai/v1/responses`: OpenAI's Responses API, answered with seeded pseudo-text.

Streamed (`"stream": true`) as OpenAI streams it, one server-sent event per step, each
`event: <type>` / `data: <json>` with a `sequence_number` counting from 0:
`response.created`, `response.in_progress`, `response.output_item.added`,
`response.content_part.added`, one `response.output_text.delta` per token,
`response.output_text.done`, `response.content_part.done`, `response.output_item.done`,
then `response.completed` with `usage` (or `response.incomplete` when `max_output_tokens`
cut the answer short). A stream told to fail mid-way ends with `response.failed` instead.
Events leave as they are made: the server is threaded and flushes every chunk.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import response_objects as objects
from .errors import STREAM_FAILURE, ApiError, missing_key, server_failure
from .response_objects import Answer
from .response_params import ResponseRequest, parse
from .state import OpenAIState, current_state
from .text import answer as answer_deltas
from .text import natural_length

bp = Blueprint("responses", __name__)


@bp.post("/openai/v1/responses")
def create():
    """Answer a prompt: the whole response, or server-sent events as it is written."""
    state = current_state()
    body = request.get_json(silent=True)
    entry = state.record_response(dict(request.headers), body)
    try:
        if not (request.headers.get("Authorization") or "").startswith("Bearer "):
            raise missing_key()
        params = parse(body)
    except ApiError as exc:
        state.update_response(entry, outcome="rejected", ended_at=time.time())
        return exc.response()
    settings = state.settings()
    if state.should_fail("responses_failure_rate"):
        state.update_response(entry, outcome="error", ended_at=time.time())
        return server_failure(settings["responses_failure_status"]).response()
    answer = _plan(params, settings)
    pace = Pace(time.monotonic(), settings)
    state.update_response(entry, id=answer.response_id)
    headers = {"x-request-id": f"req_{secrets.token_hex(16)}", "openai-model": params.model}
    if not params.stream:
        return _whole(answer, pace, state, entry, headers)
    events = _events(answer, pace, state, entry)
    return Response(events, mimetype="text/event-stream", headers={**headers, "Cache-Control": "no-cache"})


def _plan(params: ResponseRequest, settings: dict[str, Any]) -> Answer:
    """How long the answer is, where it is cut, and whether it fails.

    A length the settings fix is the answer's own: past `max_output_tokens` it is cut and
    the response is `incomplete`, as at OpenAI. A drawn length stays within the limit.
    """
    cap = params.max_output_tokens
    length = settings["responses_output_tokens"]
    if length is None:
        drawn = natural_length(params.seed)
        length = drawn if cap is None else min(drawn, cap)
    sent = length if cap is None else min(length, cap)
    deltas = answer_deltas(params.seed, length)[:sent]
    return Answer.plan(params, deltas, sent < length, settings["responses_fail_after_tokens"])


@dataclass(frozen=True)
class Pace:
    """When each token is due: the first after a delay, then so many a second."""

    started: float
    settings: dict[str, Any]

    def wait_for_token(self, index: int) -> None:
        """Sleep until token `index` (from 0) is due."""
        per_second = self.settings["responses_tokens_per_second"]
        due = self.started + self.settings["responses_first_token_seconds"]
        if per_second:
            due += index / per_second
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _whole(
    answer: Answer, pace: Pace, state: OpenAIState, entry: dict[str, Any], headers: dict[str, str]
) -> Any:
    """The non-streamed call: wait as long as the writing takes, then send the response."""
    if answer.fail_after is not None:
        pace.wait_for_token(answer.fail_after)
        state.update_response(entry, outcome="failed", ended_at=time.time())
        return server_failure(500).response()
    pace.wait_for_token(max(len(answer.deltas) - 1, 0))
    text = "".join(answer.deltas)
    item = objects.message(answer, "completed" if answer.ending == "completed" else "incomplete", text)
    usage = objects.usage(answer, len(answer.deltas))
    body = objects.response(answer, answer.ending, [item], usage)
    state.update_response(
        entry, outcome=answer.ending, output_tokens_sent=len(answer.deltas), usage=usage, ended_at=time.time()
    )
    return jsonify(body), 200, headers


def _events(answer: Answer, pace: Pace, state: OpenAIState, entry: dict[str, Any]) -> Iterator[bytes]:
    """The stream, one event per chunk; a client that goes away is logged as `disconnected`."""
    sequence = itertools.count()

    def event(type_: str, **fields: Any) -> bytes:
        data = json.dumps({"type": type_, "sequence_number": next(sequence), **fields})
        return f"event: {type_}\ndata: {data}\n\n".encode()

    where = {"item_id": answer.message_id, "output_index": 0, "content_index": 0}
    sent, outcome = 0, "disconnected"
    try:
        yield event("response.created", response=objects.response(answer, "in_progress"))
        yield event("response.in_progress", response=objects.response(answer, "in_progress"))
        pace.wait_for_token(0)
        yield event(
            "response.output_item.added", output_index=0, item=objects.message(answer, "in_progress", None)
        )
        yield event("response.content_part.added", **where, part=objects.output_text_part(""))
        for index, delta in enumerate(answer.deltas[: answer.fail_after]):
            pace.wait_for_token(index)
            obfuscation = {"obfuscation": _obfuscation(delta)} if answer.request.include_obfuscation else {}
            chunk = event("response.output_text.delta", **where, delta=delta, logprobs=[], **obfuscation)
            if sent == 0:
                state.update_response(entry, first_delta_at=time.time())
            yield chunk
            sent += 1
            state.update_response(entry, output_tokens_sent=sent)
        text = "".join(answer.deltas[:sent])
        if answer.fail_after is not None:
            pace.wait_for_token(sent)
            failed = objects.message(answer, "incomplete", text)
            error = {"code": "server_error", "message": STREAM_FAILURE}
            yield event("response.failed", response=objects.response(answer, "failed", [failed], error=error))
            outcome = "failed"
            return
        item = objects.message(answer, "completed" if answer.ending == "completed" else "incomplete", text)
        yield event("response.output_text.done", **where, text=text, logprobs=[])
        yield event("response.content_part.done", **where, part=objects.output_text_part(text))
        yield event("response.output_item.done", output_index=0, item=item)
        usage = objects.usage(answer, sent)
        state.update_response(entry, usage=usage)
        yield event(
            f"response.{answer.ending}", response=objects.response(answer, answer.ending, [item], usage)
        )
        outcome = answer.ending
    finally:
        state.update_response(entry, outcome=outcome, output_tokens_sent=sent, ended_at=time.time())


def _obfuscation(delta: str) -> str:
    """Random characters that pad a delta event to a steady size, as OpenAI adds by default."""
    return secrets.token_urlsafe(12)[: max(1, 16 - len(delta))]
