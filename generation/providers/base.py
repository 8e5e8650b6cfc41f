"""The one interface every LLM provider adapter implements.

``stream(request)`` is an async iterator that yields ``TextDelta`` events, then exactly one
``Finish`` carrying the finish reason and the usage. Anything that goes wrong is raised as a
``ProviderError`` with a normalised ``kind``. ``complete(request)`` is derived from ``stream``.

Closing the iterator (``aclose()``, or cancelling the task that iterates it) closes the
upstream HTTP response at once; adapters make sure of it by iterating inside
``async with client.stream(...)``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal


class ErrorKind(enum.StrEnum):
    AUTH = "auth"
    QUOTA = "quota"
    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    BAD_REQUEST = "bad_request"
    CONTENT_FILTER = "content_filter"
    TIMEOUT = "timeout"
    NETWORK = "network"
    UNAVAILABLE = "unavailable"
    TRUNCATED = "truncated"


RETRYABLE_KINDS = frozenset(
    {
        ErrorKind.RATE_LIMIT,
        ErrorKind.OVERLOADED,
        ErrorKind.TIMEOUT,
        ErrorKind.NETWORK,
        ErrorKind.UNAVAILABLE,
        ErrorKind.TRUNCATED,
    }
)


class ProviderError(Exception):
    """A provider call failed. ``kind`` says how; ``retryable`` whether trying again may help."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        provider: str = "",
        retryable: bool | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message
        self.provider = provider
        self.retryable = self.kind in RETRYABLE_KINDS if retryable is None else retryable
        self.retry_after = retry_after
        self.status_code = status_code
        self.usage = usage

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        return f"{where}{self.kind.value}: {self.message}"


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """What to ask a model. ``system`` is the instruction; ``messages`` the conversation."""

    messages: tuple[Message, ...]
    system: str = ""
    model: str = ""
    max_tokens: int = 1024
    temperature: float | None = 0.7
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_prompt(cls, prompt: str, **kwargs: Any) -> CompletionRequest:
        return cls(messages=(Message("user", prompt),), **kwargs)


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    reported: bool
    """True when the counts are the provider's own; False when they were estimated."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    finish_reason: str
    usage: Usage
    model: str = ""


StreamEvent = TextDelta | Finish


@dataclass(slots=True)
class StreamMeter:
    """What an adapter counted while streaming, readable after a cancel or an error.

    Adapters whose ``accepts_meter`` is true take ``stream(request, meter=StreamMeter())`` and
    keep it current: the provider's own counts as they arrive (``None`` until then), and the
    characters of text yielded so far.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    text_chars: int = 0
    finished: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    finish_reason: str
    usage: Usage
    model: str


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What the studio shows about a provider before it is used."""

    name: str
    label: str
    location: Literal["local", "cloud"]
    tier: Literal["free", "pro", "enterprise"]
    price_per_1k_input: Decimal
    price_per_1k_output: Decimal
    expected_latency_ms: int
    configured: bool
    healthy: bool
    models: tuple[str, ...]
    supports_streaming: bool = True
    how_to_configure: str = ""


class LLMProvider:
    """Base class of the adapters. Subclasses implement ``stream`` and the class attributes."""

    name: str = ""
    label: str = ""
    location: Literal["local", "cloud"] = "cloud"
    tier: Literal["free", "pro", "enterprise"] = "pro"
    expected_latency_ms: int = 800
    accepts_meter: bool = False
    """True when ``stream`` takes a keyword-only ``meter: StreamMeter``."""

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        self.alias = alias
        self.options = options

    @property
    def default_model(self) -> str:
        return str(self.options.get("model") or "")

    how_to_configure: str = ""
    """Which settings (environment variables or admin fields) make the provider usable."""

    def is_configured(self) -> bool:
        return True

    def model_names(self) -> tuple[str, ...]:
        """The models this configuration can serve, the default first (a subclass may instead
        declare them as a ``models`` tuple)."""
        declared = getattr(self, "models", None)
        if isinstance(declared, tuple) and declared:
            return declared
        return (self.default_model,) if self.default_model else ()

    async def health(self) -> bool:
        """Whether a call would likely work now; cheap and never billed."""
        return self.is_configured()

    async def test_key(self) -> str:
        """Check the credentials with the cheapest real call; a short success note, or raise."""
        if not self.is_configured():
            raise ProviderError(ErrorKind.AUTH, "not configured", provider=self.alias)
        return "no key needed"

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    async def complete(self, request: CompletionRequest) -> Completion:
        parts: list[str] = []
        finish: Finish | None = None
        async for event in self.stream(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                finish = event
        if finish is None:
            raise ProviderError(
                ErrorKind.TRUNCATED, "the stream ended without a finish", provider=self.alias
            )
        return Completion(
            text="".join(parts),
            finish_reason=finish.finish_reason,
            usage=finish.usage,
            model=finish.model or request.model or self.default_model,
        )
