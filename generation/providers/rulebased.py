"""RuleBased: the offline provider. It never calls a network, and the same request always
produces the same text, which is always template output (``TEMPLATE_BADGE``), never a model's.

What it writes depends on what the request is for, ``request.metadata["purpose"]``. Each product
registers its own offline writer for its purposes (``register_writer("script", ...)`` from its
app's ``ready()``), so a request is only ever answered with text written for that purpose:

- a registered purpose: that writer's text;
- a purpose nobody registered: refused with ``bad_request`` before any text (a roundtable
  request is never answered with a script);
- no purpose (a generic prompt, e.g. ``manage.py stream``): a short built-in reply that restates
  the prompt and says it is offline template text.

It alone may pace its output: word groups are spaced by ``OPTIONS["pace_ms"]`` milliseconds
(default 20; 0 in benchmarks) so a page visibly streams. Usage is estimated, never reported.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import AsyncIterator, Callable

from generation.costs.tokens import estimate_prompt_tokens, estimate_tokens
from generation.providers.base import (
    CompletionRequest,
    ErrorKind,
    Finish,
    LLMProvider,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
)

MODEL = "template-v1"
TEMPLATE_BADGE = "Template output (RuleBased, offline)"
DEFAULT_PACE_MS = 20
PURPOSE_KEY = "purpose"

Writer = Callable[[CompletionRequest], str]
"""An offline writer: the whole text a request of its purpose gets. Pure and deterministic."""

_writers: dict[str, Writer] = {}


def register_writer(purpose: str, writer: Writer) -> None:
    """Answer requests whose ``metadata["purpose"]`` is ``purpose`` with ``writer``.

    Registering a purpose again replaces its writer.
    """
    if not purpose:
        raise ValueError("an offline writer needs a purpose")
    _writers[purpose] = writer


def unregister_writer(purpose: str) -> None:
    _writers.pop(purpose, None)


def registered_purposes() -> tuple[str, ...]:
    return tuple(sorted(_writers))


# ---------------------------------------------------------------------------------------------
# The built-in writer of requests with no purpose

PLAIN_PROMPT_WORDS = 80


def plain_writer(request: CompletionRequest) -> str:
    """A plain offline reply to a generic prompt: it restates the prompt and says what it is."""
    prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    words = prompt.split()
    asked = " ".join(words[:PLAIN_PROMPT_WORDS]) + (" …" if len(words) > PLAIN_PROMPT_WORDS else "")
    return (
        "This is an offline template reply from RuleBased: no language model read your prompt.\n"
        "\n"
        f"You asked: {asked or '(an empty prompt)'}\n"
        "\n"
        "RuleBased has no offline writer for a general prompt, so it can only restate it. For a "
        "real answer, configure a model provider (Ollama, OpenAI, Anthropic, Gemini or Azure "
        "OpenAI) and ask again."
    )


# ---------------------------------------------------------------------------------------------
# The provider


def _word_groups(text: str, seed: int) -> list[str]:
    """The text cut into runs of two to five words; joined, they are the text exactly."""
    rng = random.Random(seed)
    tokens = re.findall(r"\s*\S+", text)
    tail = text[len("".join(tokens)) :]
    groups: list[str] = []
    i = 0
    while i < len(tokens):
        size = rng.randint(2, 5)
        groups.append("".join(tokens[i : i + size]))
        i += size
    if tail:
        if groups:
            groups[-1] += tail
        else:
            groups.append(tail)
    return groups


class RuleBasedProvider(LLMProvider):
    name = "rulebased"
    label = "RuleBased (offline template)"
    location = "local"
    tier = "free"
    expected_latency_ms = 5
    models: tuple[str, ...] = (MODEL,)
    badge = TEMPLATE_BADGE

    @property
    def default_model(self) -> str:
        return MODEL

    @property
    def pace_seconds(self) -> float:
        try:
            pace = float(self.options.get("pace_ms", DEFAULT_PACE_MS))
        except (TypeError, ValueError):
            pace = DEFAULT_PACE_MS
        return max(pace, 0.0) / 1000

    def is_configured(self) -> bool:
        return True

    async def health(self) -> bool:
        return True

    def writer(self, request: CompletionRequest) -> Writer:
        """The writer of the request's purpose; raises ``bad_request`` for an unknown one."""
        purpose = request.metadata.get(PURPOSE_KEY)
        if purpose is None or purpose == "":
            return plain_writer
        found = _writers.get(purpose) if isinstance(purpose, str) else None
        if found is None:
            raise ProviderError(
                ErrorKind.BAD_REQUEST,
                f"RuleBased has no offline writer for {purpose}",
                provider=self.alias,
                retryable=False,
            )
        return found

    def render(self, request: CompletionRequest) -> str:
        """The whole text this request produces (what ``stream`` yields, joined)."""
        return self.writer(request)(request)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        text = self.render(request)
        pace = self.pace_seconds
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        for group in _word_groups(text, seed):
            await asyncio.sleep(pace)
            yield TextDelta(group)
        yield Finish(
            finish_reason="stop",
            usage=Usage(
                input_tokens=estimate_prompt_tokens(
                    [request.system, *(m.content for m in request.messages)]
                ),
                output_tokens=estimate_tokens(text),
                reported=False,
            ),
            model=MODEL,
        )
