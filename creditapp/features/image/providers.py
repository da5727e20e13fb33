"""Image providers: `local` draws with Pillow, `openai` calls the OpenAI Images API."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import requests
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

log = logging.getLogger("creditapp.features.images")


class ProviderError(Exception):
    """The provider failed or timed out; the message is safe to show a person.

    `code` names the failure for machines (`provider_timeout`, `provider_unavailable`, …);
    `transient` failures (timeouts, outages, 429/5xx) are worth another attempt.
    """

    def __init__(self, message: str, code: str = "provider_error", transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


class ImageProvider(Protocol):
    """Turns a prompt into PNG bytes of `size`×`size` pixels."""

    # True when the same prompt and size always give the same picture.
    deterministic: bool

    def generate(self, prompt: str, size: int) -> bytes:
        """PNG bytes for the prompt, or ProviderError."""
        ...


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class LocalImageProvider:
    """Draws a picture from the prompt's hash: a gradient, shapes, and the prompt itself.

    `delay` (IMAGE_LOCAL_DELAY_SECONDS) makes it take that long, like a real image API,
    so the demo shows a job's progress.
    """

    deterministic = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    @property
    def timeout(self) -> float:
        """How long one call may take."""
        return self.delay + 5.0

    def generate(self, prompt: str, size: int) -> bytes:
        """A PNG that depends only on the prompt and the size."""
        if self.delay > 0:
            time.sleep(self.delay)
        digest = hashlib.sha256(prompt.encode("utf-8")).digest()
        rng = _ByteStream(digest)
        image = self._background(rng, size)
        overlay = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        for _ in range(8 + rng.byte() % 8):
            self._shape(draw, rng, size)
        image = Image.alpha_composite(image, overlay)
        self._caption(image, prompt, size)
        return _png(image.convert("RGB"))

    @staticmethod
    def _background(rng: _ByteStream, size: int) -> Image.Image:
        top = Image.new("RGBA", (size, size), rng.color(255))
        bottom = Image.new("RGBA", (size, size), rng.color(255))
        mask = Image.linear_gradient("L")
        # Four directions: down, across, and the two diagonals.
        turn = rng.byte() % 4
        if turn == 1:
            mask = mask.transpose(Image.Transpose.ROTATE_90)
        elif turn >= 2:
            other = mask.transpose(Image.Transpose.ROTATE_90 if turn == 2 else Image.Transpose.ROTATE_270)
            mask = Image.blend(mask, other, 0.5)
        return Image.composite(bottom, top, mask.resize((size, size)))

    @staticmethod
    def _shape(draw: ImageDraw.ImageDraw, rng: _ByteStream, size: int) -> None:
        kind = rng.byte() % 4
        x, y = rng.byte() * size // 255, rng.byte() * size // 255
        r = size // 24 + rng.byte() * size // 1400
        fill = rng.color(90 + rng.byte() % 110)
        box = (x - r, y - r, x + r, y + r)
        if kind == 0:
            draw.ellipse(box, fill=fill)
        elif kind == 3:
            draw.ellipse(box, outline=fill[:3] + (230,), width=max(2, size // 96))
        elif kind == 1:
            draw.rounded_rectangle(box, radius=r // 4, fill=fill)
        else:
            draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=fill)

    @staticmethod
    def _caption(image: Image.Image, prompt: str, size: int) -> None:
        font = ImageFont.load_default(size=max(10, size // 18))
        margin = size // 24
        draw = ImageDraw.Draw(image)
        lines = _wrap(draw, " ".join(prompt.split()), font, size - 2 * margin, max_lines=4)
        line_height = int(font.size * 1.3) if hasattr(font, "size") else 12
        band_top = size - margin - line_height * len(lines) - margin // 2
        band = Image.new("RGBA", (size, size - band_top), (0, 0, 0, 140))
        image.alpha_composite(band, (0, band_top))
        y = band_top + margin // 2
        for line in lines:
            draw.text((margin, y), line, font=font, fill=(255, 255, 255, 255))
            y += line_height


class _ByteStream:
    """Successive bytes of a digest, re-hashed when they run out: seeded, repeatable."""

    def __init__(self, seed: bytes) -> None:
        self._block = seed
        self._pos = 0

    def byte(self) -> int:
        """The next byte, 0–255."""
        if self._pos >= len(self._block):
            self._block = hashlib.sha256(self._block).digest()
            self._pos = 0
        self._pos += 1
        return self._block[self._pos - 1]

    def color(self, alpha: int) -> tuple[int, int, int, int]:
        """An RGBA colour from the next three bytes."""
        return (self.byte(), self.byte(), self.byte(), alpha)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap (long words are split); the last line ends with … when cut."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if len(lines) > max_lines:
            break
        candidate = f"{line} {word}" if line else word
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while len(lines) <= max_lines and draw.textlength(line, font=font) > width:
            cut = _fitting_prefix(draw, line, font, width)
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines or [""]


def _fitting_prefix(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> int:
    """Length of the longest prefix of `text` that fits in `width` (at least 1), by bisection."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength(text[:middle], font=font) <= width:
            low = middle
        else:
            high = middle - 1
    return low


class OpenAIImageProvider:
    """POST {base}/images/generations with a Bearer key, asking for base64 PNG."""

    deterministic = False

    def __init__(self, api_key: str, api_base: str, model: str, timeout: float) -> None:
        self.api_key = api_key
        self.api_base = api_base.rstrip("/")
        self.model = model
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OpenAIImageProvider:
        """Build from OPENAI_API_KEY, OPENAI_API_BASE, OPENAI_IMAGE_MODEL, OPENAI_TIMEOUT_SECONDS."""
        return cls(
            api_key=config["OPENAI_API_KEY"],
            api_base=config.get("OPENAI_API_BASE") or "https://api.openai.com/v1",
            model=config.get("OPENAI_IMAGE_MODEL") or "dall-e-3",
            timeout=float(config.get("OPENAI_TIMEOUT_SECONDS") or 60),
        )

    def generate(self, prompt: str, size: int) -> bytes:
        """Ask the API for one image; resize to `size` when the model only makes larger ones."""
        # dall-e-2 makes 256/512/1024 natively; newer models start at 1024, so we scale down.
        native = size if self.model == "dall-e-2" else 1024
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": 1, "size": f"{native}x{native}"}
        if self.model.startswith("dall-e"):
            body["response_format"] = "b64_json"  # gpt-image-* always answer base64 and reject this field
        try:
            response = requests.post(
                f"{self.api_base}/images/generations",
                json=body,
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=(min(10.0, self.timeout), self.timeout),
            )
        except requests.Timeout as exc:
            raise ProviderError(
                "The image service took too long to answer.", "provider_timeout", transient=True
            ) from exc
        except requests.RequestException as exc:
            raise ProviderError(
                "The image service could not be reached.", "provider_unreachable", transient=True
            ) from exc
        if response.status_code != 200:
            log.warning("openai images answered %s: %.300s", response.status_code, response.text)
            status = response.status_code
            transient = status == 429 or status >= 500
            raise ProviderError(
                f"The image service answered with an error ({status}).",
                "provider_unavailable" if transient else "provider_refused",
                transient=transient,
            )
        try:
            encoded = response.json()["data"][0]["b64_json"]
            picture = Image.open(io.BytesIO(base64.b64decode(encoded, validate=True)))
            picture.load()
        except (ValueError, KeyError, IndexError, TypeError, binascii.Error, UnidentifiedImageError) as exc:
            raise ProviderError(
                "The image service sent an answer we could not read.", "provider_bad_answer"
            ) from exc
        if picture.size != (size, size):
            picture = picture.resize((size, size), Image.Resampling.LANCZOS)
        return _png(picture.convert("RGB"))


ProviderFactory = Callable[[Mapping[str, Any]], ImageProvider]

PROVIDERS: dict[str, ProviderFactory] = {
    "local": lambda config: LocalImageProvider(float(config.get("IMAGE_LOCAL_DELAY_SECONDS") or 0)),
    "openai": OpenAIImageProvider.from_config,
}


def provider_for(config: Mapping[str, Any]) -> ImageProvider:
    """The provider IMAGE_PROVIDER names; `openai` without a key falls back to `local`."""
    name = config.get("IMAGE_PROVIDER") or "local"
    if name == "openai" and not config.get("OPENAI_API_KEY"):
        log.warning("IMAGE_PROVIDER=openai but OPENAI_API_KEY is empty; drawing images locally")
        name = "local"
    try:
        factory = PROVIDERS[name]
    except KeyError as exc:
        raise ProviderError(f"Image provider {name!r} is not configured.") from exc
    return factory(config)
