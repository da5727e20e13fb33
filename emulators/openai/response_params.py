"""The body of `POST /openai/v1/responses`, checked as OpenAI checks it.

Implemented: `model`, `input` (a string, or a list of messages whose content is a string or
`input_text`/`output_text` parts), `instructions`, `max_output_tokens` (≥ 16, as at OpenAI),
`stream`, `stream_options.include_obfuscation`. Accepted and echoed on the response, with no
effect on a pseudo-model: `temperature`, `top_p`, `metadata`, `store`, `user`,
`safety_identifier`, `prompt_cache_key`, `service_tier`, `truncation`, `parallel_tool_calls`.
Any other parameter OpenAI has (tools, reasoning, text formats, conversations, …) is refused
with 400 `unsupported_parameter`, never ignored; one OpenAI does not have is a 400
`unknown_parameter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, invalid
from .text import count_tokens, seed_for


def _number(low: float, high: float):
    return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and low <= v <= high


def _text(v: Any) -> bool:
    return isinstance(v, str)


ECHOED = {  # name: (check, what OpenAI expects)
    "temperature": (_number(0, 2), "a number between 0 and 2"),
    "top_p": (_number(0, 1), "a number between 0 and 1"),
    "metadata": (
        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in (*v, *v.values())),
        "an object of strings",
    ),
    "store": (lambda v: isinstance(v, bool), "a boolean"),
    "user": (_text, "a string"),
    "safety_identifier": (_text, "a string"),
    "prompt_cache_key": (_text, "a string"),
    "service_tier": (
        lambda v: v in ("auto", "default", "flex", "priority"),
        "one of auto, default, flex, priority",
    ),
    "truncation": (lambda v: v in ("auto", "disabled"), "auto or disabled"),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "a boolean"),
}
IMPLEMENTED = {"model", "input", "instructions", "max_output_tokens", "stream", "stream_options", *ECHOED}
NOT_IMPLEMENTED = {
    "access_programs",
    "background",
    "background_options",
    "context_management",
    "conversation",
    "image",
    "include",
    "max_tool_calls",
    "moderation",
    "previous_response_id",
    "prompt",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
}
ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = {"input_text", "output_text"}
MIN_OUTPUT_TOKENS = 16


@dataclass(frozen=True)
class ResponseRequest:
    """One checked request: what the answer depends on, and what the response echoes."""

    model: str
    instructions: str | None
    texts: list[str]
    max_output_tokens: int | None
    stream: bool
    include_obfuscation: bool
    echoed: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> str:
        """What the answer's text is drawn from."""
        return seed_for(self.instructions, self.texts)

    @property
    def input_tokens(self) -> int:
        """The instructions' tokens and every input message's."""
        return count_tokens(self.instructions or "") + sum(count_tokens(text) for text in self.texts)


def parse(body: Any) -> ResponseRequest:
    """Check a request body; raises `ApiError` with OpenAI's message for the first problem."""
    if not isinstance(body, dict):
        raise invalid("We could not parse the JSON body of your request.")
    for name in body:
        if name in NOT_IMPLEMENTED:
            raise invalid(
                f"The OpenAI stand-in does not implement '{name}'; it is refused rather than ignored.",
                name,
                "unsupported_parameter",
            )
        if name not in IMPLEMENTED:
            raise invalid(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    model = _required(body, "model")
    if not isinstance(model, str) or not model:
        raise invalid("Invalid type for 'model': expected a string.", "model", "invalid_type")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid("Invalid type for 'instructions': expected a string.", "instructions", "invalid_type")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise invalid("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type")
    return ResponseRequest(
        model=model,
        instructions=instructions,
        texts=_input_texts(_required(body, "input")),
        max_output_tokens=_max_output_tokens(body.get("max_output_tokens")),
        stream=bool(stream),
        include_obfuscation=_include_obfuscation(body.get("stream_options"), bool(stream)),
        echoed=_echoed(body),
    )


def _echoed(body: dict[str, Any]) -> dict[str, Any]:
    """The accepted parameters that only appear on the response, each checked."""
    echoed = {name: body[name] for name in ECHOED if body.get(name) is not None}
    for name, value in echoed.items():
        check, expected = ECHOED[name]
        if not check(value):
            raise invalid(f"Invalid value for '{name}': expected {expected}.", name, "invalid_value")
    return echoed


def _required(body: dict[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise invalid(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")
    return body[name]


def _max_output_tokens(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(
            "Invalid type for 'max_output_tokens': expected an integer.", "max_output_tokens", "invalid_type"
        )
    if value < MIN_OUTPUT_TOKENS:
        raise invalid(
            "Invalid 'max_output_tokens': integer below minimum value. "
            f"Expected a value >= {MIN_OUTPUT_TOKENS}, but got {value} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )
    return value


def _include_obfuscation(options: Any, stream: bool) -> bool:
    if options is None:
        return True
    if not stream:
        raise invalid("Invalid 'stream_options': only allowed when 'stream' is true.", "stream_options")
    if not isinstance(options, dict) or set(options) - {"include_obfuscation"}:
        raise invalid("Invalid 'stream_options': only 'include_obfuscation' is known.", "stream_options")
    include = options.get("include_obfuscation", True)
    if not isinstance(include, bool):
        raise invalid(
            "Invalid type for 'stream_options.include_obfuscation': expected a boolean.",
            "stream_options.include_obfuscation",
            "invalid_type",
        )
    return include


def _input_texts(value: Any) -> list[str]:
    """The text of each input message, in order (a string input is one user message)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise invalid(
            "Invalid type for 'input': expected a string or an array of items.", "input", "invalid_type"
        )
    return [_message_text(item, f"input[{i}]") for i, item in enumerate(value)]


def _message_text(item: Any, where: str) -> str:
    if not isinstance(item, dict):
        raise invalid(f"Invalid type for '{where}': expected an object.", where, "invalid_type")
    if item.get("type", "message") != "message":
        raise _unsupported(f"{where}.type", f"input items of type {item.get('type')!r}")
    role = item.get("role")
    if role not in ROLES:
        raise invalid(
            f"Invalid value: {role!r}. Supported values are: 'user', 'assistant', 'system', and 'developer'.",
            f"{where}.role",
            "invalid_value",
        )
    unknown = sorted(set(item) - {"type", "role", "content", "id", "status"})
    if unknown:
        raise invalid(
            f"Unknown parameter: '{where}.{unknown[0]}'.", f"{where}.{unknown[0]}", "unknown_parameter"
        )
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(
            f"Invalid type for '{where}.content': expected a string or an array of content parts.",
            f"{where}.content",
            "invalid_type",
        )
    return "\n".join(_part_text(part, f"{where}.content[{j}]") for j, part in enumerate(content))


def _part_text(part: Any, where: str) -> str:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise invalid(f"Invalid type for '{where}': expected a content part object.", where, "invalid_type")
    if part["type"] not in TEXT_PARTS:
        raise _unsupported(f"{where}.type", f"content parts of type {part['type']!r}")
    if not isinstance(part.get("text"), str):
        raise invalid(
            f"Missing required parameter: '{where}.text'.", f"{where}.text", "missing_required_parameter"
        )
    return part["text"]


def _unsupported(param: str, what: str) -> ApiError:
    return invalid(f"The OpenAI stand-in does not implement {what}.", param, "unsupported_parameter")
