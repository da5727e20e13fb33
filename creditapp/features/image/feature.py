"""Image generation: a prompt and a size in, a PNG out; the size sets the price."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from creditapp.features.image.providers import ProviderError, provider_for
from creditapp.features.inputs import NOT_BLANK
from creditapp.features.kit import Context, Failure, Feature, price

MAX_PROMPT_LENGTH = 1000
SIZES = (256, 512, 1024)
DEFAULT_SIZE = 512
SUMMARY_PROMPT_LENGTH = 60
CHOICES = ", ".join(str(size) for size in SIZES)


def costs(config: Mapping[str, Any]) -> dict[int, int]:
    """Size → credits, smallest size first: FEATURE_PRICES (`image_256`, …) over IMAGE_COSTS."""
    listed = {int(size): int(cost) for size, cost in config["IMAGE_COSTS"].items()}
    return {size: price(config, f"image_{size}", listed[size]) for size in SIZES if size in listed}


def shorten(text: str, length: int = SUMMARY_PROMPT_LENGTH) -> str:
    """`text` cut to about `length` characters at a word, as History has always shown prompts."""
    if len(text) <= length + 5:
        return text
    return text[: length - 3].rsplit(" ", 1)[0] + "..."


class ImageGeneration(Feature):
    """The image generation feature, drawn by the configured provider."""

    name = "image_generation"
    route = "image"
    title = "Image generation"
    noun = "image"
    action = "Generate image"
    again = "Generate another image"
    working = "Generating"
    unit = "image"
    headline = "Generate an image"
    blurb = "Describe a picture and get it in seconds."
    template = "features/image.html"
    quote_template = "features/_quote.html"
    result_template = "features/_image_result.html"
    schema = {
        "type": "object",
        "properties": {
            "prompt": {
                "type": "string",
                "title": "Describe the image",
                "description": "1 to 1000 characters, for example “a lighthouse at dusk, watercolour”.",
                "minLength": 1,
                "maxLength": MAX_PROMPT_LENGTH,
                "pattern": NOT_BLANK,
                "x-messages": {
                    "required": "Describe the image you want (the prompt is missing).",
                    "type": "The prompt must be text.",
                    "minLength": "Describe the image you want (the prompt is empty).",
                    "pattern": "Describe the image you want (the prompt is empty).",
                    "maxLength": "The prompt is {length} characters long; the limit is {limit}.",
                },
            },
            "size": {
                "type": "integer",
                "title": "Size",
                "enum": list(SIZES),
                "default": DEFAULT_SIZE,
                "description": "Pixels per side: 256 → 5, 512 → 10, 1024 → 20 credits by default "
                "(FEATURE_PRICES `image_256`, `image_512`, `image_1024`).",
                "x-messages": {
                    "required": f"Choose a size: {CHOICES}.",
                    "type": f"The size must be one of {CHOICES} (got {{got!r}}).",
                    "enum": f"The size must be one of {CHOICES} (got {{got!r}}).",
                },
            },
        },
        "required": ["prompt", "size"],
        "additionalProperties": False,
    }

    def estimate(self, params: dict[str, Any], config: Mapping[str, Any]) -> int:
        """Credits for the requested size."""
        return costs(config)[int(params["size"])]

    def run(self, params: dict[str, Any], ctx: Context) -> None:
        """Draw the picture with the configured provider, its timeout cut to the attempt's."""
        config = ctx.config
        if ctx.timeout is not None:
            configured = float(config.get("OPENAI_TIMEOUT_SECONDS") or 60)
            config = {**config, "OPENAI_TIMEOUT_SECONDS": min(configured, ctx.timeout)}
        png = provider_for(config).generate(params["prompt"], int(params["size"]))
        ctx.result(data=png, content_type="image/png")

    def summary(self, params: dict[str, Any]) -> str:
        """“the prompt”, 512 px."""
        return f"“{shorten(str(params.get('prompt', '')))}”, {params.get('size')} px"

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

    def cheapest(self, config: Mapping[str, Any]) -> int:
        """The smallest size's price."""
        return min(costs(config).values())

    def uses(self, count: int) -> str:
        """“10 images at 512 px”."""
        return f"{count:,} images at {DEFAULT_SIZE} px"

    def page_context(self, params: dict[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
        """The size menu's prices."""
        return {"costs": costs(config)}
