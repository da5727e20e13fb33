"""What an answer costs: a price per 1,000 tokens (a setting), and how tokens are counted before the
provider has said.

The charge is `ceil(price × tokens / 1000)` whole credits, where the tokens are the provider's
`usage.input_tokens + usage.output_tokens` once the answer is complete. Before that, two counts
stand in for the provider's:

- the **hold** must cover any answer, so it counts the prompt at its most: one token per byte
  of UTF-8 (a token is never shorter than a byte) and the message's framing, plus every
  output token the person allows (`max_output_tokens`);
- the **running charge** (what a Stop or a failure mid-answer is charged) counts the prompt's
  words and punctuation marks, and one token per streamed delta: close to the provider's own
  count, and never above what the hold took.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from creditapp.config import price

PRICE_NAME = "assistant_per_1k_tokens"  # the FEATURE_PRICES entry
DEFAULT_PER_1K_TOKENS = 2
# Tokens the provider adds around a prompt (the role and message markers) beyond its text.
FRAMING_TOKENS = 16
WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")


def per_1k_tokens(config: Mapping[str, Any]) -> int:
    """Credits per 1,000 tokens: FEATURE_PRICES `assistant_per_1k_tokens`, else 2."""
    return price(config, PRICE_NAME, DEFAULT_PER_1K_TOKENS)


def credits_for(config: Mapping[str, Any], tokens: int) -> int:
    """The price of `tokens` tokens in whole credits, rounded up (0 tokens: 0 credits)."""
    return -(-per_1k_tokens(config) * max(tokens, 0) // 1000)


def most_input_tokens(prompt: str) -> int:
    """The most tokens the provider can count for this prompt: what the hold covers."""
    return len(prompt.encode("utf-8")) + FRAMING_TOKENS


def counted_input_tokens(prompt: str) -> int:
    """The prompt's tokens as the running charge counts them: words and punctuation marks."""
    return len(WORD_OR_MARK.findall(prompt))


def hold(config: Mapping[str, Any], prompt: str, max_output_tokens: int) -> int:
    """The most an answer can cost (at least 1 credit): what the hold takes."""
    return max(1, credits_for(config, most_input_tokens(prompt) + max_output_tokens))
