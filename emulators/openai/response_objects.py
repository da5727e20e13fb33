"""The Responses API's objects, shaped as OpenAI sends them: the response, its message, usage."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from .response_params import ResponseRequest


@dataclass(frozen=True)
class Answer:
    """What one call will produce: its ids, the deltas to send, and how it ends."""

    request: ResponseRequest
    response_id: str
    message_id: str
    created_at: int
    deltas: list[str]  # already cut to max_output_tokens
    cut_short: bool  # the answer was longer than max_output_tokens: status "incomplete"
    fail_after: int | None  # the stream fails after this many deltas

    @classmethod
    def plan(
        cls, request: ResponseRequest, deltas: list[str], cut_short: bool, fail_after: int | None
    ) -> Answer:
        """Give the answer fresh ids (`resp_…`, `msg_…`, 48 hex digits as OpenAI's)."""
        return cls(
            request=request,
            response_id=f"resp_{secrets.token_hex(24)}",
            message_id=f"msg_{secrets.token_hex(24)}",
            created_at=int(time.time()),
            deltas=deltas,
            cut_short=cut_short,
            fail_after=fail_after if fail_after is not None and fail_after < len(deltas) else None,
        )

    @property
    def ending(self) -> str:
        """`completed`, `incomplete` (cut at max_output_tokens) or `failed`."""
        if self.fail_after is not None:
            return "failed"
        return "incomplete" if self.cut_short else "completed"


def output_text_part(text: str) -> dict[str, Any]:
    """An `output_text` content part."""
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message(answer: Answer, status: str, text: str | None) -> dict[str, Any]:
    """The assistant message item; `text=None` for one with no content part yet."""
    return {
        "id": answer.message_id,
        "type": "message",
        "status": status,
        "content": [] if text is None else [output_text_part(text)],
        "role": "assistant",
    }


def usage(answer: Answer, output_tokens: int) -> dict[str, Any]:
    """Token usage: the input's tokens and the deltas sent."""
    input_tokens = answer.request.input_tokens
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def response(
    answer: Answer,
    status: str,
    output: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response object at one stage (`in_progress`, `completed`, `incomplete`, `failed`)."""
    request, echoed = answer.request, answer.request.echoed
    finished = status != "in_progress"
    return {
        "id": answer.response_id,
        "object": "response",
        "created_at": answer.created_at,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": None,
        "model": request.model,
        "output": output or [],
        "parallel_tool_calls": echoed.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "prompt_cache_key": echoed.get("prompt_cache_key"),
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": echoed.get("safety_identifier"),
        # A request's "auto" is answered with the tier that served it once it is known.
        "service_tier": _served_tier(echoed.get("service_tier", "auto"), finished),
        "store": echoed.get("store", True),
        "temperature": echoed.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": echoed.get("top_p", 1.0),
        "truncation": echoed.get("truncation", "disabled"),
        "usage": usage,
        "user": echoed.get("user"),
        "metadata": echoed.get("metadata", {}),
    }


def _served_tier(requested: str, finished: bool) -> str:
    return "default" if finished and requested == "auto" else requested
