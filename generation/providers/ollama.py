"""Ollama's native chat API, streamed as NDJSON (../shared/PROTOCOLS.md §5).

``POST {base_url}/api/chat`` answers ``application/x-ndjson``: one JSON object per ``\\n``-ended
line, text in ``message.content``; the line with ``"done": true`` ends the stream (it may still
carry text) with ``done_reason``, ``prompt_eval_count`` and ``eval_count`` (either may be
absent, then the counts are estimated). A line ``{"error": ...}`` after HTTP 200 is a failure.
Closing the connection stops generation on the server. Health is ``GET /api/tags``.

On the embedded defaults (no ``OLLAMA_HOST`` or ``OLLAMA_MODEL``, the default address) Ollama
counts as set up only once it has answered: its free ``/api/tags`` call is what the provider
pages make, and its first answer is remembered in the cache (shared by every process). Until
then Auto and the fallback chains leave it out, so a studio without Ollama shows no failure.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from django.core.cache import cache

from generation.providers.base import CompletionRequest, ErrorKind, ProviderError
from generation.providers.transport import (
    LOCAL_TIMEOUTS,
    HTTPCall,
    HTTPProvider,
    StreamParser,
    error_body,
    parse_retry_after,
    short,
    status_kind,
)
from generation.providers.transport import loads as _loads

HEALTH_TTL = 10.0
DEFAULT_BASE_URL = "http://127.0.0.1:11434"
ANSWERED_SECONDS = 30 * 24 * 3600
_answered: set[str] = set()


def _answered_key(base_url: str) -> str:
    return f"aura:ollama-answered:{base_url}"


def chat_body(request: CompletionRequest, model: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages.extend({"role": m.role, "content": m.content} for m in request.messages)
    options: dict[str, Any] = {"num_predict": request.max_tokens}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    return {"model": model, "messages": messages, "stream": True, "options": options}


def error_kind(status: int, message: str) -> ErrorKind:
    lowered = message.lower()
    if "not found" in lowered and "model" in lowered:
        return ErrorKind.BAD_REQUEST
    if status in (429, 503) or "server busy" in lowered:
        return ErrorKind.OVERLOADED
    if status == 200:
        return ErrorKind.UNAVAILABLE
    return status_kind(status)


class ChatStream(StreamParser):
    __slots__ = ()
    expected_ending = 'a "done": true line'

    def on_line(self, line: bytes) -> str | None:
        payload = _loads(line.decode("utf-8", "replace"))
        if not isinstance(payload, dict):
            return None
        if "error" in payload:
            message = str(payload["error"])
            raise ProviderError(
                error_kind(200, message),
                f"error mid-stream: {short(message)}",
                provider=self.provider,
                status_code=200,
            )
        reply = payload.get("message")
        text = reply.get("content") if isinstance(reply, dict) else None
        if payload.get("done"):
            self.done = True
            self.model = payload.get("model") or self.model
            self.finish_reason = str(payload.get("done_reason") or "stop")
            self.input_tokens = payload.get("prompt_eval_count")
            self.output_tokens = payload.get("eval_count")
        return text or None


class OllamaProvider(HTTPProvider):
    name = "ollama"
    label = "Ollama (local)"
    location = "local"
    tier = "free"
    expected_latency_ms = 1500
    default_timeouts = LOCAL_TIMEOUTS
    content_types = ("application/x-ndjson",)
    framing = "ndjson"
    how_to_configure = (
        "Install and start Ollama (ollama serve) and pull a model (ollama pull llama3.2); "
        "set OLLAMA_HOST and OLLAMA_MODEL when they differ from the defaults."
    )

    def __init__(self, alias: str, options: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(alias, options, **kwargs)
        self._tags: tuple[float, tuple[str, ...] | None] = (0.0, None)

    @property
    def base_url(self) -> str:
        return str(self.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    def is_configured(self) -> bool:
        """Set up: given an address or a model of its own, or, on the defaults, once it has
        answered."""
        if not (self.base_url and self.default_model):
            return False
        if self.options.get("explicit") or self.base_url != DEFAULT_BASE_URL:
            return True
        return self.has_answered()

    def has_answered(self) -> bool:
        if self.base_url in _answered:
            return True
        if cache.get(_answered_key(self.base_url)):
            _answered.add(self.base_url)
            return True
        return False

    def _remember_answer(self) -> None:
        if self.base_url not in _answered:
            _answered.add(self.base_url)
            cache.set(_answered_key(self.base_url), True, ANSWERED_SECONDS)

    def headers(self) -> dict[str, str]:
        headers = {"accept": "application/x-ndjson"}
        if self.options.get("api_key"):
            headers["authorization"] = f"Bearer {self.options['api_key']}"
        return headers

    def build_call(self, request: CompletionRequest) -> HTTPCall:
        model = request.model or self.default_model
        return HTTPCall(
            "POST", f"{self.base_url}/api/chat", self.headers(), chat_body(request, model)
        )

    def new_parser(self, request: CompletionRequest) -> ChatStream:
        return ChatStream(self.alias)

    def error_from_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        parsed = error_body(body)
        message = parsed.get("error") if isinstance(parsed, dict) else None
        text = str(message) if message else (body.decode("utf-8", "replace") or f"HTTP {status}")
        detail = f"HTTP {status}: {short(text)}"
        if status == 404 and "not found" in text.lower():
            installed = self._tags[1]
            detail += (
                f" (this Ollama has {', '.join(installed)}; pull the model with ollama pull)"
                if installed
                else " (this Ollama has no model yet; pull one with ollama pull)"
            )
        return ProviderError(
            error_kind(status, text),
            detail,
            provider=self.alias,
            retry_after=parse_retry_after(headers),
            status_code=status,
        )

    async def tags(self) -> tuple[str, ...] | None:
        """Installed models from ``GET /api/tags`` (cached briefly); None when unreachable."""
        fetched_at, cached = self._tags
        if time.monotonic() - fetched_at < HEALTH_TTL:
            return cached
        try:
            data = await self._get_json(f"{self.base_url}/api/tags", self.headers())
        except ProviderError:
            names: tuple[str, ...] | None = None
        else:
            models = data.get("models", []) if isinstance(data, dict) else []
            names = tuple(
                str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict)
            )
            self._remember_answer()
        self._tags = (time.monotonic(), names)
        return names

    async def health(self) -> bool:
        names = await self.tags()
        if names is None:
            return False
        model = self.default_model
        return any(name == model or name.split(":")[0] == model for name in names)

    async def test_key(self) -> str:
        data = await self._get_json(f"{self.base_url}/api/tags", self.headers())
        models = data.get("models", []) if isinstance(data, dict) else []
        return f"Ollama answers ({len(models)} models installed)"
