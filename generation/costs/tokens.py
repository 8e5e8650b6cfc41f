"""Token estimates for when a provider gives no counts.

The heuristic: one token per four characters, rounded up, plus nothing for an empty text. It
matches OpenAI's published rule of thumb for English ("a token is about 4 characters") and is
only ever used for usage marked ``reported=False``.
"""

from __future__ import annotations

from collections.abc import Iterable

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def estimate_prompt_tokens(parts: Iterable[str]) -> int:
    """Tokens of a prompt made of ``parts`` (system and messages), with a small overhead each."""
    total = 0
    for part in parts:
        total += estimate_tokens(part) + 4
    return total
