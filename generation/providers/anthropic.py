"""Anthropic Messages, streamed (../shared/PROTOCOLS.md §3).

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``. Events:
``message_start`` (input tokens, a placeholder output count), ``content_block_*`` with
``text_delta`` text, ``message_delta`` (stop reason, **cumulative** ``output_tokens``: the last
one wins), ``message_stop`` (the end). ``ping`` and unknown events are ignored. An
``event: error`` after HTTP 200 is mapped by ``error.type``.
"""

from __future__ import annotations

from collections.abc import Mapping
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

API_VERSION = "2023-06-01"

ERROR_TYPES = {
    "invalid_request_error": ErrorKind.BAD_REQUEST,
    "authentication_error": ErrorKind.AUTH,
    "permission_error": ErrorKind.AUTH,
    "billing_error": ErrorKind.QUOTA,
    "not_found_error": ErrorKind.BAD_REQUEST,
    "request_too_large": ErrorKind.BAD_REQUEST,
    "conflict_error": ErrorKind.UNAVAILABLE,
    "rate_limit_error": ErrorKind.RATE_LIMIT,
    "api_error": ErrorKind.UNAVAILABLE,
    "overloaded_error": ErrorKind.OVERLOADED,
    "timeout_error": ErrorKind.TIMEOUT,
}

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
    "pause_turn": "pause_turn",
}

SPEND_LIMIT_MARKERS = ("spend limit", "credit balance", "usage limit")


def messages_body(request: CompletionRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
    }
    if request.system:
        body["system"] = request.system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def error_kind(status: int, error: Mapping[str, Any]) -> ErrorKind:
    details = error.get("details")
    code = details.get("error_code") if isinstance(details, dict) else None
    if code == "enforced_spend_limit_reached":
        return ErrorKind.QUOTA
    message = str(error.get("message") or "").lower()
    kind = ERROR_TYPES.get(str(error.get("type") or ""))
    if kind is None:
        kind = status_kind(status)
    if kind == ErrorKind.BAD_REQUEST and any(m in message for m in SPEND_LIMIT_MARKERS):
        return ErrorKind.QUOTA
    return kind


def error_from_response(
    provider: str, status: int, headers: Mapping[str, str], body: bytes
) -> ProviderError:
    parsed = error_body(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        error = {"message": body.decode("utf-8", "replace") or f"HTTP {status}"}
    kind = error_kind(status, error)
    retryable: bool | None = None
    should_retry = headers.get("x-should-retry")
    if kind == ErrorKind.QUOTA or should_retry == "false":
        retryable = False
    elif should_retry == "true":
        retryable = True
    return ProviderError(
        kind,
        f"HTTP {status}: {short(str(error.get('message') or f'HTTP {status}'))}",
        provider=provider,
        retryable=retryable,
        retry_after=parse_retry_after(headers) if kind != ErrorKind.QUOTA else None,
        status_code=status,
    )


class MessagesStream(StreamParser):
    __slots__ = ()
    expected_ending = "message_stop"

    def on_event(self, event: SSEEvent) -> str | None:
        name, data = event
        if name == "content_block_delta":
            delta = loads(data).get("delta") or {}
            if delta.get("type") == "text_delta":
                return delta.get("text") or None
            return None
        if name == "message_start":
            message = loads(data).get("message") or {}
            self.model = message.get("model") or ""
            usage = message.get("usage") or {}
            self._input(usage)
            if usage.get("output_tokens") is not None:
                self.output_tokens = usage["output_tokens"]
        elif name == "message_delta":
            payload = loads(data)
            stop = (payload.get("delta") or {}).get("stop_reason")
            if stop:
                self.finish_reason = STOP_REASONS.get(stop, stop)
            usage = payload.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.output_tokens = usage["output_tokens"]
            if usage.get("input_tokens") is not None:
                self._input(usage)
        elif name == "message_stop":
            self.done = True
        elif name == "error":
            payload = loads(data)
            error = payload.get("error") if isinstance(payload, dict) else None
            if not isinstance(error, dict):
                error = {"message": data}
            raise ProviderError(
                error_kind(200, error),
                f"error mid-stream: {short(str(error.get('message') or error.get('type')))}",
                provider=self.provider,
                status_code=200,
            )
        return None

    def _input(self, usage: Mapping[str, Any]) -> None:
        total = 0
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            total += int(usage.get(key) or 0)
        self.input_tokens = total


class AnthropicProvider(HTTPProvider):
    name = "anthropic"
    label = "Anthropic Claude"
    location = "cloud"
    tier = "pro"
    expected_latency_ms = 900
    how_to_configure = (
        "Set ANTHROPIC_API_KEY (and optionally ANTHROPIC_MODEL, ANTHROPIC_BASE_URL), "
        "or enter an Anthropic key in the admin under Provider credentials."
    )

    @property
    def base_url(self) -> str:
        return str(self.options.get("base_url") or "https://api.anthropic.com").rstrip("/")

    def is_configured(self) -> bool:
        return bool(self.options.get("api_key"))

    def headers(self) -> dict[str, str]:
        return {
            "x-api-key": str(self.options.get("api_key", "")),
            "anthropic-version": API_VERSION,
            "accept": "text/event-stream",
        }

    def build_call(self, request: CompletionRequest) -> HTTPCall:
        model = request.model or self.default_model
        return HTTPCall(
            "POST", f"{self.base_url}/v1/messages", self.headers(), messages_body(request, model)
        )

    def new_parser(self, request: CompletionRequest) -> MessagesStream:
        return MessagesStream(self.alias)

    def error_from_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        return error_from_response(self.alias, status, headers, body)

    async def test_key(self) -> str:
        data = await self._get_json(f"{self.base_url}/v1/models", self.headers(), limit="1")
        count = len(data.get("data", [])) if isinstance(data, dict) else 0
        return f"key accepted ({count} model listed)"
