"""The stand-in's "model": a word-and-punctuation tokenizer and seeded pseudo-text.

A token is a run of letters and digits or one punctuation mark, so `"Hello, world!"` is four
tokens. The answer to a prompt is drawn from a generator seeded with the prompt: the same
prompt always gets the same text, one token per streamed delta.
"""

from __future__ import annotations

import hashlib
import random
import re

TOKEN = re.compile(r"\w+|[^\w\s]")
DEFAULT_LENGTHS = (20, 80)  # the answer's length in tokens when no setting fixes it
VOCABULARY = (
    "credit balance answer ledger request token stream model prompt quiet river light stone "
    "garden window paper signal market bridge morning evening simple careful clear steady "
    "small large early late bright warm cold green blue golden silver gentle rapid patient "
    "the a of to and in on with for from by at over under between across every each "
    "reads writes holds keeps sends counts builds carries finds shows follows turns grows "
    "moves waits answers"
)
WORDS = tuple(VOCABULARY.split())


def count_tokens(text: str) -> int:
    """How many tokens `text` is: words (runs of letters and digits) and punctuation marks."""
    return len(TOKEN.findall(text))


def seed_for(instructions: str | None, texts: list[str]) -> str:
    """The string that seeds an answer: the instructions and every input message, in order."""
    return "\n".join([instructions or "", *texts])


def natural_length(seed: str) -> int:
    """The answer's length in tokens when no setting fixes it, drawn from the prompt."""
    return random.Random(f"length:{seed}").randint(*DEFAULT_LENGTHS)


def answer(seed: str, length: int) -> list[str]:
    """The `length` deltas of the answer to `seed`, one token each; joined they are its text.

    Sentences of 4–12 words, now and then a comma, each closed by a full stop; the last
    token closes the answer with a full stop when the one before it is a word.
    """
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    tokens: list[str] = []
    words_left = rng.randint(4, 12)
    while len(tokens) < length - 1:
        if words_left == 0:
            tokens.append(".")
            words_left = rng.randint(4, 12)
        elif tokens and tokens[-1] not in ".," and words_left > 1 and rng.random() < 0.08:
            tokens.append(",")
        else:
            word = rng.choice(WORDS)
            tokens.append(word.capitalize() if not tokens or tokens[-1] == "." else word)
            words_left -= 1
    if length > 0:
        if tokens and tokens[-1] not in ".,":
            tokens.append(".")
        else:
            word = rng.choice(WORDS)
            tokens.append(word if tokens and tokens[-1] == "," else word.capitalize())
    return [token if token in ".," or i == 0 else f" {token}" for i, token in enumerate(tokens)]
