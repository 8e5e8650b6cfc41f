"""OpenAI chat completions, streamed (../shared/PROTOCOLS.md §1).

``POST {base_url}/chat/completions`` with ``stream: true`` and
``stream_options: {"include_usage": true}``; ``text/event-stream`` of ``chat.completion.chunk``
objects, a usage chunk with ``choices: []``, then ``data: [DONE]``. An event whose JSON has a
top-level ``error`` is a failure even after HTTP 200.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]
from typing import Any

from generation.providers.base import CompletionRequest, ErrorKind, ProviderError
from generation.providers.sse import SSEEvent
from generation.providers.transport import (
    HTTPCall,
    HTTPProvider,
    StreamParser,
    error_body,
    loads,
    parse_retry_after,
    short,
    status_kind,
)

logger = logging.getLogger(__name__)

_CONTENT_MARK = '"choices":[{"index":0,"delta":{"content":"'
_CONTENT_MARK_BYTES = _CONTENT_MARK.encode()
_CONTENT_MARK_LEN = len(_CONTENT_MARK_BYTES)
_CONTENT_TAIL = '},"logprobs":null,"finish_reason":null}]'
_USAGE_OBJECT = '"usage":{'

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def chat_messages(request: CompletionRequest) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages.extend({"role": m.role, "content": m.content} for m in request.messages)
    return messages


def chat_body(request: CompletionRequest, model: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": chat_messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": request.max_tokens,
    }
    if model:
        body["model"] = model
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def error_kind(status: int, error: Mapping[str, Any]) -> ErrorKind:
    """The kind of an OpenAI-style ``error`` object returned with ``status``."""
    code = str(error.get("code") or "")
    kind_name = str(error.get("type") or "")
    if code == "insufficient_quota" or kind_name == "insufficient_quota":
        return ErrorKind.QUOTA
    if code == "content_filter" or kind_name == "content_filter":
        return ErrorKind.CONTENT_FILTER
    if code in ("invalid_api_key", "invalid_authentication") or kind_name == "authentication_error":
        return ErrorKind.AUTH
    if code == "rate_limit_exceeded" or kind_name == "rate_limit_error":
        return ErrorKind.RATE_LIMIT
    if kind_name == "server_error" and status == 200:
        return ErrorKind.UNAVAILABLE
    return status_kind(status)


def error_from_response(
    provider: str, status: int, headers: Mapping[str, str], body: bytes
) -> ProviderError:
    parsed = error_body(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        error = {"message": body.decode("utf-8", "replace") or f"HTTP {status}"}
    kind = error_kind(status, error)
    message = short(str(error.get("message") or f"HTTP {status}"))
    retryable = False if kind == ErrorKind.QUOTA else None
    return ProviderError(
        kind,
        f"HTTP {status}: {message}",
        provider=provider,
        retryable=retryable,
        retry_after=parse_retry_after(headers) if status in (429, 503, 529) else None,
        status_code=status,
    )


class ChatCompletionStream(StreamParser):
    """Parses the events of one chat completions stream (OpenAI and Azure OpenAI)."""

    __slots__ = ("filter_note",)
    expected_ending = "data: [DONE]"

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.filter_note = ""

    def fast_chunk(self, chunk: bytes) -> str | None:
        """The text of a read that holds exactly one plain content-delta event in OpenAI's
        field order (nearly every event of a stream), decoding only its content string; None
        for anything else (another order, more delta fields, a finish reason, usage, several
        events), which then takes the full path: SSE decoder and JSON parse."""
        if not self.model or chunk[-2:] != b"\n\n" or chunk[:6] != b"data: ":
            return None
        at = chunk.find(_CONTENT_MARK_BYTES, 6)
        if at < 0 or chunk.find(b"\n", 6) != len(chunk) - 2 or chunk.find(13) >= 0:
            return None
        rest = chunk[at + _CONTENT_MARK_LEN : -2].decode("utf-8", "replace")
        try:
            text, end = _scanstring(rest, 0)
        except ValueError:
            return None
        if rest.startswith(_CONTENT_TAIL, end) and rest.find(_USAGE_OBJECT, end) < 0:
            return text
        return None

    def on_event(self, event: SSEEvent) -> str | None:
        data = event[1]
        if data[:6] == "[DONE]":
            self.done = True
            return None
        payload = loads(data)
        if not isinstance(payload, dict):
            return None
        if payload.get("error"):
            error = payload["error"]
            if not isinstance(error, dict):
                error = {"message": str(error)}
            raise ProviderError(
                error_kind(200, error),
                f"error mid-stream: {short(str(error.get('message') or 'unknown error'))}",
                provider=self.provider,
                status_code=200,
            )
        usage = payload.get("usage")
        if usage:
            self.input_tokens = usage.get("prompt_tokens")
            self.output_tokens = usage.get("completion_tokens")
        choices = payload.get("choices")
        if not choices:
            return None
        if not self.model:
            self.model = payload.get("model") or ""
        choice = choices[0]
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = FINISH_REASONS.get(reason, reason)
        delta = choice.get("delta")
        if delta is None:
            self._annotation(choice)
            return None
        return delta.get("content") or delta.get("refusal")

    def _annotation(self, choice: Mapping[str, Any]) -> None:
        results = choice.get("content_filter_results")
        if isinstance(results, dict) and isinstance(results.get("error"), dict):
            self.filter_note = short(str(results["error"].get("message") or ""))
            logger.warning(
                "%s: the content filter reported an error: %s", self.provider, self.filter_note
            )


class OpenAIProvider(HTTPProvider):
    name = "openai"
    label = "OpenAI"
    location = "cloud"
    tier = "pro"
    expected_latency_ms = 700
    how_to_configure = (
        "Set OPENAI_API_KEY (and optionally OPENAI_MODEL, OPENAI_BASE_URL), "
        "or enter an OpenAI key in the admin under Provider credentials."
    )

    @property
    def base_url(self) -> str:
        return str(self.options.get("base_url") or "https://api.openai.com/v1").rstrip("/")

    def is_configured(self) -> bool:
        return bool(self.options.get("api_key"))

    def headers(self) -> dict[str, str]:
        return {
            "authorization": f"Bearer {self.options.get('api_key', '')}",
            "accept": "text/event-stream",
        }

    def build_call(self, request: CompletionRequest) -> HTTPCall:
        model = request.model or self.default_model
        return HTTPCall(
            "POST",
            f"{self.base_url}/chat/completions",
            self.headers(),
            chat_body(request, model),
        )

    def new_parser(self, request: CompletionRequest) -> ChatCompletionStream:
        return ChatCompletionStream(self.alias)

    def error_from_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        return error_from_response(self.alias, status, headers, body)

    async def test_key(self) -> str:
        data = await self._get_json(f"{self.base_url}/models", self.headers())
        count = len(data.get("data", [])) if isinstance(data, dict) else 0
        return f"key accepted ({count} models visible)"
