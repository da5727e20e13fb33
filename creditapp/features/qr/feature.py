"""The QR code feature: a text in, a PNG of its QR code out, made in the request (instant).

Drawn by `segno` (pure Python; it writes the PNG itself). Digits and upper-case text go in
the denser numeric and alphanumeric modes, anything else as UTF-8 bytes: told no encoding,
segno would choose Shift-JIS "kanji" mode for some accented text, which scanners read back
wrong. Error correction is M (15 % of the code can be lost), or better where the same size
allows.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import segno

from creditapp.features import Context, Feature, InvalidInput, price

MAX_TEXT_LENGTH = 1000
# The most UTF-8 bytes one QR code holds at error correction M (version 40, byte mode).
MAX_TEXT_BYTES = 2331
SUMMARY_LENGTH = 60
# A character that is not a space to either regex engine. The text is trimmed before the
# check (Python's idea of a space), so a text of spaces is empty; the pattern says so to the
# API document's readers, whose ECMA-262 `\S` counts \x1c-\x1f and \x85 as text and
# \ufeff as a space: a plain "\S" would let them send "\x1e", which the trim empties.
SOMETHING_TO_ENCODE = r"[^\s\x1c-\x1f\x85\ufeff]"


class Qr(Feature):
    """A QR code PNG for a text: 1 credit (FEATURE_PRICES `qr`)."""

    name = "qr"
    title = "QR code"
    mode = "instant"
    noun = "QR code"
    action = "Make QR code"
    working = "Drawing"
    unit = "code"  # the pricing table's cell class: pack-codes
    headline = "Make a QR code"
    blurb = "Turn a link or any text into a QR code at once."
    schema = {
        "type": "object",
        "properties": {
            "text": {
                "type": "string",
                "title": "Text",
                "description": "A link or any text, up to 1000 characters.",
                "minLength": 1,
                "maxLength": MAX_TEXT_LENGTH,
                "pattern": SOMETHING_TO_ENCODE,
                "x-messages": {"type": "The text must be a string.", "pattern": "Text is empty."},
            },
            "scale": {
                "type": "integer",
                "title": "Scale",
                "description": "Pixels per module (square) of the code, 1 to 20.",
                "minimum": 1,
                "maximum": 20,
                "default": 8,
            },
        },
        "required": ["text"],
        "additionalProperties": False,
    }

    def estimate(self, params: dict[str, Any], config: Mapping[str, Any]) -> int:
        """One price for any text."""
        return price(config, "qr", 1)

    def check(self, params: dict[str, Any], config: Mapping[str, Any]) -> None:
        """A text of 1000 characters can still be too many bytes (emoji take 4) for one code."""
        size = len(params["text"].encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise InvalidInput(
                f"The text takes {size:,} bytes; one QR code holds at most {MAX_TEXT_BYTES:,}.",
                field="text",
            )

    def run(self, params: dict[str, Any], ctx: Context) -> None:
        """Draw the code (a white border of 4 modules, as scanners expect)."""
        code = segno.make_qr(params["text"], error="m", encoding="utf-8")
        png = io.BytesIO()
        code.save(png, kind="png", scale=int(params["scale"]), border=4)
        ctx.result(data=png.getvalue(), content_type="image/png")

    def uses(self, count: int) -> str:
        """The pricing table's “500 QR codes”."""
        return f"{count:,} QR code{'' if count == 1 else 's'}"

    def summary(self, params: dict[str, Any]) -> str:
        """The text's start, on one line."""
        text = " ".join(str(params.get("text", "")).split())
        return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 1] + "…"
