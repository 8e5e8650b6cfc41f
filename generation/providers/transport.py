"""What the HTTP adapters share: timeouts, the client, error mapping and the streaming loop.

Timeouts (seconds), each settable in a provider's OPTIONS:

- ``connect_timeout``: opening the TCP/TLS connection;
- ``first_token_timeout``: from sending the request to the first text (covers queueing and, for
  a local model, loading it);
- ``stall_timeout``: waiting for more text once text has come.

The defaults depend on where the model runs (``LOCAL_TIMEOUTS``, ``CLOUD_TIMEOUTS``). The two
read timeouts count only time spent waiting for the provider, never time the consumer spends
between two events. Each raises ``ProviderError(TIMEOUT)``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from generation.costs.crypto import SECRET_OPTION, mask_secret
from generation.costs.tokens import estimate_prompt_tokens, estimate_tokens
from generation.providers.base import (
    CompletionRequest,
    ErrorKind,
    Finish,
    LLMProvider,
    ProviderError,
    StreamEvent,
    StreamMeter,
    TextDelta,
    Usage,
)
from generation.providers.sse import NDJSONDecoder, SSEDecoder, SSEEvent

MAX_ERROR_BODY = 64 * 1024
"""Options whose values are never shown, even when a provider's error quotes them."""
RETRY_AFTER_CAP = 3600.0

_decode_json = json.JSONDecoder().raw_decode


def loads(text: str) -> Any:
    """``json.loads`` without its whitespace pre-check (the hot path parses every event)."""
    try:
        value, end = _decode_json(text)
    except ValueError:
        return json.loads(text)
    if end != len(text) and text[end:].strip():
        return json.loads(text)
    return value


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    first_token: float
    stall: float


LOCAL_TIMEOUTS = Timeouts(connect=5.0, first_token=300.0, stall=120.0)
CLOUD_TIMEOUTS = Timeouts(connect=10.0, first_token=60.0, stall=30.0)


def timeouts_from_options(options: Mapping[str, Any], defaults: Timeouts) -> Timeouts:
    def pick(name: str, default: float) -> float:
        value = options.get(name)
        if value in (None, ""):
            return default
        number = float(value)
        if number <= 0:
            raise ValueError(f"{name} must be positive, not {value!r}")
        return number

    return Timeouts(
        connect=pick("connect_timeout", defaults.connect),
        first_token=pick("first_token_timeout", defaults.first_token),
        stall=pick("stall_timeout", defaults.stall),
    )


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date).

    Negative values become 0; absurd ones are capped at an hour; unparsable ones are ignored.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return _clamp(float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return _clamp(float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return _clamp(when.timestamp() - current)


def _clamp(seconds: float) -> float | None:
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def parse_duration(value: str) -> float | None:
    """A protobuf Duration in JSON form (``"12s"``, ``"0.5s"``), in seconds."""
    value = value.strip()
    if not value.endswith("s"):
        return None
    try:
        return _clamp(float(value[:-1]))
    except ValueError:
        return None


def status_kind(status: int) -> ErrorKind:
    """The generic meaning of an HTTP status; adapters refine it from the body."""
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 402:
        return ErrorKind.QUOTA
    if status in (408, 504):
        return ErrorKind.TIMEOUT
    if status == 429:
        return ErrorKind.RATE_LIMIT
    if status in (503, 529):
        return ErrorKind.OVERLOADED
    if status >= 500:
        return ErrorKind.UNAVAILABLE
    if status == 404:
        return ErrorKind.BAD_REQUEST
    return ErrorKind.BAD_REQUEST


def error_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None


def short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_ssl_context: ssl.SSLContext | None = None
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def shared_client() -> httpx.AsyncClient:
    """One pooled client per event loop (a client cannot outlive or cross its loop)."""
    global _ssl_context
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context()
        client = httpx.AsyncClient(
            verify=_ssl_context,
            timeout=httpx.Timeout(10.0, read=None),
            limits=httpx.Limits(max_connections=500, max_keepalive_connections=50),
        )
        _clients[loop] = client
    return client


@dataclass(slots=True)
class HTTPCall:
    """A request an adapter wants to send, built by a pure function."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    params: dict[str, str] | None = None


class StreamParser:
    """Per-stream state of one adapter: fed decoded events, it returns text and keeps usage.

    Subclasses add ``on_event`` (SSE) or ``on_line`` (NDJSON) and name the provider's normal
    ending in ``expected_ending``.
    """

    __slots__ = ("done", "finish_reason", "input_tokens", "model", "output_tokens", "provider")
    expected_ending = "its normal ending"

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.done = False
        self.finish_reason = ""
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.model = ""

    def end_of_body(self) -> None:
        """Called when the body ended before ``done``: the stream was cut short."""
        raise ProviderError(
            ErrorKind.TRUNCATED,
            f"the stream ended without {self.expected_ending}",
            provider=self.provider,
        )


class _Watchdog:
    """Cancels the reading task when a read waits past its deadline (cheaper than a timeout
    context per read, which matters at thousands of events per second)."""

    __slots__ = ("_handle", "_loop", "expired", "limit", "reading", "since", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float) -> None:
        self._loop = loop
        self.limit = limit
        self.since = loop.time()
        self.reading = False
        self.expired = False
        self.task: asyncio.Task[Any] | None = None
        self._handle: asyncio.TimerHandle | None = loop.call_at(self.since + limit, self._fire)

    def _fire(self) -> None:
        now = self._loop.time()
        due = self.since + self.limit
        if self.reading and now >= due and self.task is not None:
            self.expired = True
            self._handle = None
            self.task.cancel()
            return
        self._handle = self._loop.call_at(max(due, now + self.limit / 8), self._fire)

    def switch(self, limit: float) -> None:
        """From now on allow ``limit`` seconds per wait (after the first text: the stall limit)."""
        self.limit = limit
        self.since = self._loop.time()
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(self.since + limit, self._fire)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class HTTPProvider(LLMProvider):
    """Base of the adapters that speak HTTP. Subclasses build the call and parse events."""

    accepts_meter = True
    default_timeouts = CLOUD_TIMEOUTS
    content_types: tuple[str, ...] = ("text/event-stream",)
    framing = "sse"

    def __init__(
        self, alias: str, options: dict[str, Any], *, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(alias, options)
        self._client = client or options.get("client")
        self.timeouts = timeouts_from_options(options, self.default_timeouts)

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client if self._client is not None else shared_client()

    def error(self, kind: ErrorKind, message: str, **extra: Any) -> ProviderError:
        return ProviderError(kind, message, provider=self.alias, **extra)

    def redacted(self, error: ProviderError) -> ProviderError:
        """``error`` with any of this provider's secrets in its message masked (a provider's
        error body may quote the key it was sent, before the stream or in an error event in it,
        and a transport error may quote the URL)."""
        for name, value in self.options.items():
            if SECRET_OPTION.search(name) and isinstance(value, str) and len(value) >= 4:
                error.message = error.message.replace(value, mask_secret(value))
        error.args = (error.message,)
        return error

    async def health(self) -> bool:
        return self.is_configured()

    def build_call(self, request: CompletionRequest) -> HTTPCall:
        raise NotImplementedError

    def new_parser(self, request: CompletionRequest) -> Any:
        raise NotImplementedError

    def error_from_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        raise NotImplementedError

    def stream(
        self, request: CompletionRequest, *, meter: StreamMeter | None = None
    ) -> AsyncIterator[StreamEvent]:
        return self._stream(request, meter)

    async def _stream(
        self, request: CompletionRequest, meter: StreamMeter | None
    ) -> AsyncIterator[StreamEvent]:
        if not self.is_configured():
            raise self.error(
                ErrorKind.AUTH, f"not configured: {self.how_to_configure}", retryable=False
            )
        call = self.build_call(request)
        parser = self.new_parser(request)
        loop = asyncio.get_running_loop()
        timeouts = self.timeouts
        chars = 0
        response: httpx.Response | None = None
        watchdog = _Watchdog(loop, timeouts.first_token)
        try:
            response = await self._open(call, watchdog)
            await self._check(response)
            feed: Callable[[Any], str | None]
            if self.framing == "sse":
                decoder: SSEDecoder | NDJSONDecoder = SSEDecoder()
                feed = parser.on_event
            else:
                decoder = NDJSONDecoder()
                feed = parser.on_line
            decode = decoder.feed
            fast: Callable[[bytes], str | None] | None = None
            sse_decoder = decoder if isinstance(decoder, SSEDecoder) else None
            if sse_decoder is not None:
                fast = getattr(parser, "fast_chunk", None)
            # Without a content-encoding, read httpx's byte stream itself: aiter_raw() only adds
            # a re-chunking generator layer per read, which shows at thousands of events/s.
            raw: AsyncIterable[bytes] = (
                response.stream
                if _identity(response) and isinstance(response.stream, httpx.AsyncByteStream)
                else response.aiter_bytes()
            )
            next_chunk = raw.__aiter__().__anext__
            task = asyncio.current_task()
            watchdog.task = task
            clock = loop.time
            stall = timeouts.stall
            before_first_text = True
            while not parser.done:
                watchdog.reading = True
                try:
                    chunk = await next_chunk()
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    if watchdog.expired and task is not None and task.uncancel() == 0:
                        raise self._timeout(chars, parser, request) from None
                    raise
                finally:
                    watchdog.reading = False
                if fast is not None and sse_decoder is not None and sse_decoder.idle:
                    text = fast(chunk)
                    if text is not None:
                        if text:
                            chars += len(text)
                            if before_first_text:
                                before_first_text = False
                                watchdog.switch(stall)
                            yield TextDelta(text)
                            watchdog.since = clock()
                        continue
                for item in decode(chunk):
                    text = feed(item)
                    if text:
                        chars += len(text)
                        if before_first_text:
                            before_first_text = False
                            watchdog.switch(stall)
                        yield TextDelta(text)
                        watchdog.since = clock()
            if not parser.done and self.framing != "sse":
                rest = decoder.rest()  # type: ignore[union-attr]
                if rest.strip():
                    text = feed(rest)
                    if text:
                        chars += len(text)
                        yield TextDelta(text)
            if not parser.done:
                parser.end_of_body()
            if parser.finish_reason == "content_filter" and not chars:
                raise self.error(
                    ErrorKind.CONTENT_FILTER,
                    "the provider's content filter blocked the answer",
                    retryable=False,
                )
            usage = self._usage(parser, request, chars)
            if meter is not None:
                meter.finished = True
            yield Finish(parser.finish_reason or "stop", usage, parser.model)
        except ProviderError as exc:
            if exc.usage is None:
                exc.usage = self._usage(parser, request, chars, final=False)
            self.redacted(exc)
            raise
        except httpx.HTTPError as exc:
            raise self.redacted(self._transport_error(exc, parser, request, chars)) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self.redacted(
                self.error(
                    ErrorKind.UNAVAILABLE,
                    f"unreadable data in the stream: {type(exc).__name__}: {short(str(exc), 120)}",
                    usage=self._usage(parser, request, chars, final=False),
                )
            ) from exc
        finally:
            watchdog.close()
            if meter is not None:
                meter.text_chars = chars
                meter.input_tokens = parser.input_tokens
                meter.output_tokens = parser.output_tokens
            if response is not None:
                await response.aclose()

    async def _open(self, call: HTTPCall, watchdog: _Watchdog) -> httpx.Response:
        timeouts = self.timeouts
        client = self.client
        http_request = client.build_request(
            call.method,
            call.url,
            headers=call.headers,
            json=call.json,
            params=call.params,
            timeout=httpx.Timeout(timeouts.connect, read=None, write=timeouts.connect),
        )
        try:
            async with asyncio.timeout(timeouts.first_token):
                return await client.send(http_request, stream=True)
        except TimeoutError:
            raise self.error(
                ErrorKind.TIMEOUT,
                f"no response within {timeouts.first_token:g}s (first_token_timeout)",
            ) from None

    async def _check(self, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type", "")
        if response.status_code == 200 and content_type.startswith(self.content_types):
            return
        try:
            async with asyncio.timeout(self.timeouts.connect):
                body = await _read_bounded(response)
        except (TimeoutError, httpx.HTTPError):
            body = b""
        if response.status_code != 200:
            raise self.redacted(
                self.error_from_response(response.status_code, response.headers, body)
            )
        parsed = error_body(body)
        if isinstance(parsed, dict) and "error" in parsed:
            raise self.redacted(self.error_from_response(500, response.headers, body))
        raise self.error(
            ErrorKind.UNAVAILABLE,
            f"expected a stream ({', '.join(self.content_types)}) but got "
            f"{content_type or 'no content type'}: {short(body.decode('utf-8', 'replace'), 120)}",
            retryable=False,
            status_code=response.status_code,
        )

    def _usage(
        self, parser: Any, request: CompletionRequest, chars: int, *, final: bool = True
    ) -> Usage:
        reported_in, reported_out = parser.input_tokens, parser.output_tokens
        if final and reported_in is not None and reported_out is not None:
            return Usage(reported_in, reported_out, reported=True)
        estimated_out = (chars + 3) // 4
        input_tokens = reported_in if reported_in is not None else prompt_estimate(request)
        output_tokens = max(reported_out or 0, estimated_out)
        return Usage(input_tokens, output_tokens, reported=False)

    def _timeout(self, chars: int, parser: Any, request: CompletionRequest) -> ProviderError:
        if chars:
            message = f"no new text for {self.timeouts.stall:g}s (stall_timeout)"
        else:
            message = f"no text within {self.timeouts.first_token:g}s (first_token_timeout)"
        return self.error(
            ErrorKind.TIMEOUT, message, usage=self._usage(parser, request, chars, final=False)
        )

    def _transport_error(
        self, exc: httpx.HTTPError, parser: Any, request: CompletionRequest, chars: int
    ) -> ProviderError:
        usage = self._usage(parser, request, chars, final=False)
        if isinstance(exc, httpx.TimeoutException):
            return self.error(ErrorKind.TIMEOUT, f"{type(exc).__name__}: {exc}", usage=usage)
        if isinstance(exc, httpx.RemoteProtocolError):
            return self.error(
                ErrorKind.TRUNCATED, f"the connection broke mid-response: {exc}", usage=usage
            )
        if isinstance(exc, httpx.ConnectError):
            # A local server that refuses connections is not running: retrying will not help.
            return self.error(
                ErrorKind.NETWORK,
                f"cannot connect to {self.label or self.alias}: {exc}",
                usage=usage,
                retryable=self.location != "local",
            )
        return self.error(ErrorKind.NETWORK, f"{type(exc).__name__}: {exc}", usage=usage)

    async def _get_json(self, url: str, headers: dict[str, str], **params: str) -> Any:
        """A small non-streaming GET (health checks and key tests), errors mapped."""
        try:
            response = await self.client.get(
                url,
                headers=headers,
                params=params or None,
                timeout=httpx.Timeout(self.timeouts.connect, read=self.timeouts.connect * 2),
            )
        except httpx.TimeoutException as exc:
            raise self.redacted(
                self.error(ErrorKind.TIMEOUT, f"{type(exc).__name__}: {exc}")
            ) from exc
        except httpx.HTTPError as exc:
            raise self.redacted(self.error(ErrorKind.NETWORK, f"cannot connect: {exc}")) from exc
        if response.status_code != 200:
            raise self.redacted(
                self.error_from_response(
                    response.status_code, response.headers, response.content[:MAX_ERROR_BODY]
                )
            )
        return error_body(response.content)


def prompt_estimate(request: CompletionRequest) -> int:
    parts = [request.system] if request.system else []
    parts.extend(message.content for message in request.messages)
    return estimate_prompt_tokens(parts)


def _identity(response: httpx.Response) -> bool:
    encoding = response.headers.get("content-encoding")
    return not encoding or encoding.strip().lower() == "identity"


async def _read_bounded(response: httpx.Response) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        size += len(chunk)
        if size >= MAX_ERROR_BODY:
            break
    return b"".join(parts)[:MAX_ERROR_BODY]


__all__ = [
    "CLOUD_TIMEOUTS",
    "LOCAL_TIMEOUTS",
    "HTTPCall",
    "HTTPProvider",
    "SSEEvent",
    "Timeouts",
    "estimate_tokens",
    "loads",
    "mask_secret",
    "parse_duration",
    "parse_retry_after",
    "status_kind",
]
