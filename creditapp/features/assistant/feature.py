"""The assistant: a prompt answered by OpenAI's Responses API, streamed onto the job page as it is
written, charged per token used (docs/assistant.md).

Held: the price of the most tokens the prompt can count as, plus `max_output_tokens`.
Charged: the price of the provider's `usage.input_tokens + usage.output_tokens` once the answer
is complete; while it streams, each delta raises the running charge, so a Stop or a failure
partway is charged for the text the person got (and a failure before any text, nothing).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import openai

from creditapp.features.assistant import pricing, responses
from creditapp.features.assistant.responses import ProviderError
from creditapp.features.inputs import NOT_BLANK
from creditapp.features.kit import Context, Failure, Feature

MAX_PROMPT_LENGTH = 4000
MIN_OUTPUT_TOKENS, MAX_OUTPUT_TOKENS, DEFAULT_OUTPUT_TOKENS = 16, 4096, 512
SUMMARY_LENGTH = 60
TEXT_DELTAS = ("response.output_text.delta", "response.refusal.delta")  # a refusal is text too
ENDINGS = ("response.completed", "response.incomplete")  # incomplete: cut at max_output_tokens
FAILURES = ("response.failed", "error")
WAIT_SECONDS = 0.1  # how long the worker waits for an event before asking about Stop again
CUT_SHORT = "The assistant service failed partway through the answer; the part it wrote is kept."


def shorten(text: str, length: int = SUMMARY_LENGTH) -> str:
    """The start of `text`, cut at a word, on one line."""
    text = " ".join(text.split())
    if len(text) <= length + 5:
        return text
    return text[: length - 3].rsplit(" ", 1)[0] + "..."


class Answer:
    """The answer as it arrives: shown as it comes, and its running charge reported with each delta."""

    def __init__(self, ctx: Context, input_tokens: int) -> None:
        self.ctx = ctx
        self.input_tokens = input_tokens
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        """Everything received so far."""
        return "".join(self.parts)

    def add(self, delta: str) -> None:
        """One delta (one token): shown, and charged with the prompt's counted tokens."""
        if not delta:
            return
        self.parts.append(delta)
        self.ctx.partial(delta)
        self.ctx.used(pricing.credits_for(self.ctx.config, self.input_tokens + len(self.parts)))

    def finish(self, usage: Any) -> None:
        """The answer is complete: charged the provider's own count of the tokens."""
        if usage is not None:
            self.ctx.used(pricing.credits_for(self.ctx.config, usage.input_tokens + usage.output_tokens))
        self.ctx.result(text=self.text)

    def stop(self) -> None:
        """The person pressed Stop: keep what was written (charged as it came)."""
        if self.parts:
            self.ctx.result(text=self.text)

    def failed(self, error: ProviderError) -> ProviderError:
        """What a failure means now: before any text, `error` as it is (charged nothing; tried
        again when transient); after some, the answer was cut short (charged for that text,
        not tried again, since the person has it)."""
        if not self.parts:
            return error
        return ProviderError(CUT_SHORT, "answer_cut_short", transient=False)


class Assistant(Feature):
    """A prompt answered by the OpenAI Responses API, streamed, stoppable, charged per token."""

    name = "assistant"
    title = "Assistant"
    noun = "answer"
    action = "Ask"
    again = "Ask another question"
    working = "Writing"
    unit = "answer"
    headline = "Ask the assistant"
    blurb = "The answer appears as it is written; you pay for the tokens it used."
    stoppable = True
    streams = True
    schema = {
        "type": "object",
        "properties": {
            "prompt": {
                "type": "string",
                "title": "Your question",
                "description": f"1 to {MAX_PROMPT_LENGTH:,} characters.",
                "minLength": 1,
                "maxLength": MAX_PROMPT_LENGTH,
                "pattern": NOT_BLANK,
                "x-messages": {
                    "required": "Write a question (the prompt is missing).",
                    "type": "The prompt must be text.",
                    "minLength": "Write a question (the prompt is empty).",
                    "pattern": "Write a question (the prompt is empty).",
                    "maxLength": "The prompt is {length} characters long; the limit is {limit}.",
                },
            },
            "max_output_tokens": {
                "type": "integer",
                "title": "Longest answer (tokens)",
                "description": f"{MIN_OUTPUT_TOKENS} to {MAX_OUTPUT_TOKENS:,}; a token is about ¾ of a word. "
                "The hold covers this many; you pay for what the answer used.",
                "minimum": MIN_OUTPUT_TOKENS,
                "maximum": MAX_OUTPUT_TOKENS,
                "default": DEFAULT_OUTPUT_TOKENS,
            },
        },
        "required": ["prompt"],
        "additionalProperties": False,
    }

    def estimate(self, params: dict[str, Any], config: Mapping[str, Any]) -> int:
        """The most the answer can cost: the prompt at its most tokens, and max_output_tokens."""
        return pricing.hold(config, str(params.get("prompt") or ""), int(params["max_output_tokens"]))

    def run(self, params: dict[str, Any], ctx: Context) -> None:
        """Stream the answer: each delta shown and charged; Stop and the deadline asked between
        events and while the provider is silent."""
        prompt = params["prompt"]
        seconds = ctx.timeout or self.timeout(ctx.config)
        deadline = time.monotonic() + seconds
        answer = Answer(ctx, pricing.counted_input_tokens(prompt))
        with responses.answer(ctx.config, prompt, int(params["max_output_tokens"]), seconds) as events:
            while True:
                try:
                    event = events.next(wait=WAIT_SECONDS)
                except openai.APIError as exc:  # a timeout or a dropped connection mid-stream
                    raise answer.failed(responses.failed_before_answer(exc)) from exc
                except responses.StreamEnded:
                    ended = "The assistant service ended the answer unfinished."
                    raise answer.failed(ProviderError(ended, "provider_dropped", transient=True)) from None
                # Asked before the event is used: text that comes after the Stop is not charged.
                if ctx.stopped():
                    answer.stop()
                    return  # leaving the block cuts the connection: the provider stops writing
                if event is not None:
                    if event.type in TEXT_DELTAS:
                        answer.add(event.delta)
                    elif event.type in ENDINGS:
                        answer.finish(event.response.usage)
                        return
                    elif event.type in FAILURES:
                        raise answer.failed(responses.failed_event(event))
                if time.monotonic() > deadline:
                    late = f"The answer took longer than {seconds:.0f} s."
                    raise answer.failed(ProviderError(late, "provider_timeout", transient=True))

    def timeout(self, config: Mapping[str, Any]) -> float:
        """How long one answer may stream: OPENAI_TIMEOUT_SECONDS, as long as any OpenAI call here."""
        return float(config.get("OPENAI_TIMEOUT_SECONDS") or 60)

    def summary(self, params: dict[str, Any]) -> str:
        """“The prompt's start…”."""
        return f"“{shorten(str(params.get('prompt', '')))}”"

    def failure(self, exc: Exception) -> Failure | None:
        """The provider's failures: before any text, transient ones are tried again; after some,
        the answer was cut short (charged for what was written, not tried again)."""
        if isinstance(exc, ProviderError):
            return Failure(exc.code, str(exc), exc.transient)
        return None
