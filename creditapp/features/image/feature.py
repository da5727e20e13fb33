"""Image generation: a prompt and a size in, a PNG out; the size sets the price."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from creditapp.features.base import Failure, InvalidInput
from creditapp.features.image.providers import ProviderError, provider_for

MAX_PROMPT_LENGTH = 1000


@dataclass(frozen=True)
class ImageRequest:
    """A validated request: the prompt (1–1000 characters) and a priced size."""

    prompt: str
    size: int


@dataclass(frozen=True)
class GeneratedImage:
    """The picture a request produced."""

    prompt: str
    size: int
    png: bytes


def costs(config: Mapping[str, Any]) -> dict[int, int]:
    """Size → credits, from IMAGE_COSTS, smallest size first."""
    return {
        int(size): int(cost) for size, cost in sorted(config["IMAGE_COSTS"].items(), key=lambda i: int(i[0]))
    }


def parse_size(raw: Any, config: Mapping[str, Any]) -> int:
    """A size the price list knows, from an int or a string of digits; else InvalidInput."""
    allowed = costs(config)
    choices = ", ".join(str(size) for size in allowed)
    if raw is None or raw == "":
        raise InvalidInput(f"Choose a size: {choices}.", field="size")
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidInput(f"The size must be one of {choices}.", field="size")
    text = str(raw).strip()
    if not text.isdigit() or int(text) not in allowed:
        raise InvalidInput(f"The size must be one of {choices} (got {text[:20]!r}).", field="size")
    return int(text)


class ImageGeneration:
    """The image generation feature, drawn by the configured provider."""

    name = "image_generation"
    title = "Image generation"

    def parse(self, raw: Mapping[str, Any], config: Mapping[str, Any]) -> ImageRequest:
        """Check the prompt (1–1000 characters after trimming) and the size."""
        prompt = raw.get("prompt")
        if prompt is None:
            raise InvalidInput("Describe the image you want (the prompt is missing).", field="prompt")
        if not isinstance(prompt, str):
            raise InvalidInput("The prompt must be text.", field="prompt")
        prompt = prompt.strip()
        if not prompt:
            raise InvalidInput("Describe the image you want (the prompt is empty).", field="prompt")
        if len(prompt) > MAX_PROMPT_LENGTH:
            raise InvalidInput(
                f"The prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_LENGTH}.",
                field="prompt",
            )
        return ImageRequest(prompt=prompt, size=parse_size(raw.get("size"), config))

    def cost(self, params: ImageRequest, config: Mapping[str, Any]) -> int:
        """Credits for the requested size."""
        return costs(config)[params.size]

    def run(
        self, params: ImageRequest, config: Mapping[str, Any], timeout: float | None = None
    ) -> GeneratedImage:
        """Draw the picture with the configured provider, its timeout cut to `timeout` seconds."""
        if timeout is not None:
            configured = float(config.get("OPENAI_TIMEOUT_SECONDS") or 60)
            config = {**config, "OPENAI_TIMEOUT_SECONDS": min(configured, timeout)}
        png = provider_for(config).generate(params.prompt, params.size)
        return GeneratedImage(prompt=params.prompt, size=params.size, png=png)

    def timeout(self, config: Mapping[str, Any]) -> float:
        """How long one provider call may take."""
        try:
            return float(getattr(provider_for(config), "timeout", 60.0))
        except ProviderError:
            return 60.0  # a misconfigured provider fails inside the attempt, with its message

    def failure(self, exc: Exception) -> Failure | None:
        """A provider's failure (timeouts, outages, 429/5xx are transient); None for anything else."""
        if isinstance(exc, ProviderError):
            return Failure(exc.code, str(exc), exc.transient)
        return None

    def result_bytes(self, result: GeneratedImage) -> bytes:
        """The PNG."""
        return result.png
