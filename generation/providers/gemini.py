"""Google Gemini ``streamGenerateContent``, as SSE (../shared/PROTOCOLS.md §4).

``POST {base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse`` with ``x-goog-api-key``.
Each ``data:`` event is a whole ``GenerateContentResponse``; lines end in CRLF. There is no
terminator: the body ending after a ``finishReason`` is the normal end, the body ending without
one is a truncation. ``usageMetadata`` may come on several chunks: the last one is kept.
``promptFeedback.blockReason`` (no candidates) means the prompt was blocked: CONTENT_FILTER.
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
    parse_duration,
    parse_retry_after,
    short,
    status_kind,
)

STATUSES = {
    "UNAUTHENTICATED": ErrorKind.AUTH,
    "PERMISSION_DENIED": ErrorKind.AUTH,
    "RESOURCE_EXHAUSTED": ErrorKind.RATE_LIMIT,
    "INVALID_ARGUMENT": ErrorKind.BAD_REQUEST,
    "FAILED_PRECONDITION": ErrorKind.BAD_REQUEST,
    "NOT_FOUND": ErrorKind.BAD_REQUEST,
    "OUT_OF_RANGE": ErrorKind.BAD_REQUEST,
    "UNAVAILABLE": ErrorKind.OVERLOADED,
    "INTERNAL": ErrorKind.UNAVAILABLE,
    "UNKNOWN": ErrorKind.UNAVAILABLE,
    "DEADLINE_EXCEEDED": ErrorKind.TIMEOUT,
    "CANCELLED": ErrorKind.NETWORK,
}

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "OTHER": "other",
    "FINISH_REASON_UNSPECIFIED": "other",
    "LANGUAGE": "other",
}
FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


def generate_body(request: CompletionRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contents": [
            {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
            for m in request.messages
        ],
        "generationConfig": {"maxOutputTokens": request.max_tokens},
    }
    if request.temperature is not None:
        body["generationConfig"]["temperature"] = request.temperature
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    return body


def retry_delay(error: Mapping[str, Any]) -> float | None:
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                return parse_duration(delay)
    return None


def error_kind(status: int, error: Mapping[str, Any]) -> ErrorKind:
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("reason") == "API_KEY_INVALID":
            return ErrorKind.AUTH
    message = str(error.get("message") or "")
    if "API key not valid" in message:
        return ErrorKind.AUTH
    kind = STATUSES.get(str(error.get("status") or ""))
    if kind is None:
        code = error.get("code")
        kind = status_kind(code if isinstance(code, int) and code >= 400 else status)
    if kind == ErrorKind.RATE_LIMIT and "billing" in message.lower():
        return ErrorKind.QUOTA
    return kind


def make_error(
    provider: str, status: int, error: Mapping[str, Any], headers: Mapping[str, str] | None
) -> ProviderError:
    kind = error_kind(status, error)
    after = retry_delay(error)
    if after is None and headers is not None:
        after = parse_retry_after(headers)
    prefix = f"HTTP {status}: " if status != 200 else "error mid-stream: "
    return ProviderError(
        kind,
        prefix + short(str(error.get("message") or error.get("status") or "unknown error")),
        provider=provider,
        retryable=False if kind == ErrorKind.QUOTA else None,
        retry_after=after,
        status_code=status,
    )


class GenerateContentStream(StreamParser):
    """Gemini sends no terminator: the body ending after a ``finishReason`` is the normal end."""

    __slots__ = ("saw_finish",)
    expected_ending = "a finishReason"

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.saw_finish = False

    def on_event(self, event: SSEEvent) -> str | None:
        payload = loads(event[1])
        if not isinstance(payload, dict):
            return None
        error = payload.get("error")
        if isinstance(error, dict):
            raise make_error(self.provider, 200, error, None)
        usage = payload.get("usageMetadata")
        if usage:
            self.input_tokens = usage.get("promptTokenCount")
            output = usage.get("candidatesTokenCount")
            thoughts = usage.get("thoughtsTokenCount")
            if output is not None or thoughts is not None:
                self.output_tokens = int(output or 0) + int(thoughts or 0)
        if not self.model and payload.get("modelVersion"):
            self.model = payload["modelVersion"]
        candidates = payload.get("candidates")
        if not candidates:
            feedback = payload.get("promptFeedback") or {}
            block = feedback.get("blockReason")
            if block:
                message = feedback.get("blockReasonMessage") or block
                raise ProviderError(
                    ErrorKind.CONTENT_FILTER,
                    f"the prompt was blocked: {short(str(message))}",
                    provider=self.provider,
                    retryable=False,
                )
            return None
        candidate = candidates[0]
        reason = candidate.get("finishReason")
        if reason:
            self.saw_finish = True
            self.finish_reason = (
                "content_filter"
                if reason in FILTER_REASONS
                else FINISH_REASONS.get(reason, "other")
            )
        parts = (candidate.get("content") or {}).get("parts")
        if not parts:
            return None
        if len(parts) == 1:
            part = parts[0]
            return None if part.get("thought") else part.get("text")
        return "".join(p.get("text") or "" for p in parts if not p.get("thought")) or None

    def end_of_body(self) -> None:
        if self.saw_finish:
            self.done = True
            if self.output_tokens is None and self.input_tokens is not None:
                self.output_tokens = 0
            return
        super().end_of_body()


class GeminiProvider(HTTPProvider):
    name = "gemini"
    label = "Google Gemini"
    location = "cloud"
    tier = "pro"
    expected_latency_ms = 800
    how_to_configure = (
        "Set GEMINI_API_KEY (and optionally GEMINI_MODEL, GEMINI_BASE_URL), "
        "or enter a Gemini key in the admin under Provider credentials."
    )

    @property
    def base_url(self) -> str:
        default = "https://generativelanguage.googleapis.com"
        return str(self.options.get("base_url") or default).rstrip("/")

    def is_configured(self) -> bool:
        return bool(self.options.get("api_key"))

    def headers(self) -> dict[str, str]:
        return {
            "x-goog-api-key": str(self.options.get("api_key", "")),
            "accept": "text/event-stream",
        }

    def build_call(self, request: CompletionRequest) -> HTTPCall:
        model = (request.model or self.default_model).removeprefix("models/")
        return HTTPCall(
            "POST",
            f"{self.base_url}/v1beta/models/{model}:streamGenerateContent",
            self.headers(),
            generate_body(request),
            params={"alt": "sse"},
        )

    def new_parser(self, request: CompletionRequest) -> GenerateContentStream:
        return GenerateContentStream(self.alias)

    def error_from_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        parsed = error_body(body)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
            error = parsed[0].get("error")
        if not isinstance(error, dict):
            error = {"message": body.decode("utf-8", "replace") or f"HTTP {status}"}
        return make_error(self.alias, status, error, headers)

    async def test_key(self) -> str:
        data = await self._get_json(f"{self.base_url}/v1beta/models", self.headers(), pageSize="1")
        count = len(data.get("models", [])) if isinstance(data, dict) else 0
        return f"key accepted ({count} model listed)"
