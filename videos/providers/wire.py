"""What the HTTP video adapters share: one request with its transport failures mapped to
``VideoError``, a non-2xx answer turned into one, and a JSON body read defensively.

The HTTP status decides the kind (../shared/PROTOCOLS-VIDEO.md §11): 401/403 ``auth``, 402
``quota``, 429 ``rate_limit`` (with the ``Retry-After`` the provider sent), 400/404/413/422
``bad_request``, 408/504 ``timeout``, other 5xx ``unavailable`` (retryable); a refused connection
is ``network`` and a request that ran out of time is ``timeout``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from generation.providers.transport import parse_retry_after, short
from videos.providers.base import VideoError, VideoErrorKind, VideoProvider

__all__ = [
    "error_message",
    "http_error",
    "json_body",
    "json_object",
    "parse_retry_after",
    "send",
    "short",
    "status_error",
    "status_kind",
]


def status_kind(status: int) -> VideoErrorKind:
    if status in (401, 403):
        return VideoErrorKind.AUTH
    if status == 402:
        return VideoErrorKind.QUOTA
    if status == 429:
        return VideoErrorKind.RATE_LIMIT
    if status in (408, 504):
        return VideoErrorKind.TIMEOUT
    if status >= 500:
        return VideoErrorKind.UNAVAILABLE
    return VideoErrorKind.BAD_REQUEST


def _detail_text(detail: Any) -> str:
    """FastAPI-style ``detail``: a string, or a list of ``{"loc": [...], "msg": ...}`` errors."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = item.get("loc")
                path = loc if isinstance(loc, list) else []
                where = ".".join(str(p) for p in path if p != "body")
                message = str(item.get("msg") or item.get("message") or item.get("type") or "")
                parts.append(f"{where}: {message}" if where else message)
            else:
                parts.append(str(item))
        return "; ".join(p for p in parts if p)
    if isinstance(detail, Mapping):
        return str(detail.get("message") or detail.get("msg") or json.dumps(detail))
    return ""


def error_message(body: Any, headers: Mapping[str, str] | None = None) -> str:
    """The human part of an error answer, whichever of the usual shapes it takes: ``error`` (a
    string or an object with ``message``), ``errors[]``, ``detail``, ``message``, or the
    ``X-Error-Message`` header the Hugging Face router adds."""
    found = ""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, str):
            found = error
        elif isinstance(error, Mapping):
            found = str(error.get("message") or error.get("type") or "")
        if not found and isinstance(body.get("errors"), list):
            found = "; ".join(
                str(e.get("message") if isinstance(e, Mapping) else e) for e in body["errors"]
            )
        if not found and "detail" in body:
            found = _detail_text(body["detail"])
        if not found and isinstance(body.get("message"), str):
            found = body["message"]
    elif isinstance(body, str):
        found = body
    if not found and headers is not None:
        found = headers.get("x-error-message", "")
    return short(found)


def _parse(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content.decode("utf-8", "replace")) if response.content else None
    except ValueError:
        return None


def status_error(
    provider: VideoProvider,
    response: httpx.Response,
    *,
    what: str = "",
    kind: VideoErrorKind | None = None,
) -> VideoError:
    """A ``VideoError`` for a non-2xx answer (``what`` says which call it was)."""
    status = response.status_code
    body = _parse(response)
    text = error_message(body, response.headers)
    if not text:
        raw = response.content.decode("utf-8", "replace").strip()
        text = short(raw) if raw and not raw.startswith("<") else response.reason_phrase
    prefix = f"{what}: " if what else ""
    return provider.error(
        kind or status_kind(status),
        f"{prefix}HTTP {status}: {text}",
        retry_after=parse_retry_after(response.headers) if status in (429, 503) else None,
        status_code=status,
    )


def http_error(
    provider: VideoProvider,
    response: httpx.Response,
    message: str,
    *,
    quota_phrases: tuple[str, ...] = (),
) -> VideoError:
    """A ``VideoError`` for a non-2xx answer whose message the adapter read from its own error
    shape; a message naming one of ``quota_phrases`` (``insufficient credits``) is ``quota``
    whatever the status."""
    status = response.status_code
    lowered = message.lower()
    kind = status_kind(status)
    if any(phrase in lowered for phrase in quota_phrases):
        kind = VideoErrorKind.QUOTA
    retry_after = parse_retry_after(response.headers) if status == 429 or status >= 500 else None
    return provider.error(
        kind, f"HTTP {status}: {message}", retry_after=retry_after, status_code=status
    )


def json_object(
    provider: VideoProvider, response: httpx.Response, *, what: str = ""
) -> dict[str, Any]:
    """The JSON object of a 2xx answer; anything else is the provider misbehaving (retryable)."""
    payload = json_body(provider, response, what=what)
    if not isinstance(payload, dict):
        prefix = f"{what}: " if what else ""
        raise provider.error(
            VideoErrorKind.UNAVAILABLE,
            f"{prefix}HTTP {response.status_code} with JSON that is not an object",
            status_code=response.status_code,
        )
    return payload


def json_body(provider: VideoProvider, response: httpx.Response, *, what: str = "") -> Any:
    """The JSON of a 2xx answer; one that is not JSON is the provider misbehaving (retryable)."""
    try:
        return json.loads(response.content.decode("utf-8"))
    except ValueError:
        prefix = f"{what}: " if what else ""
        raise provider.error(
            VideoErrorKind.UNAVAILABLE,
            f"{prefix}HTTP {response.status_code} with a body that is not JSON",
            status_code=response.status_code,
        ) from None


async def send(
    provider: VideoProvider,
    method: str,
    url: str,
    *,
    what: str = "",
    **kwargs: Any,
) -> httpx.Response:
    """One request over the adapter's client; connection failures and timeouts become
    ``VideoError`` (``network``, ``timeout``), an answer of any status is returned."""
    where = what or f"{method} {urlsplit(url).path}"
    try:
        return await provider.client.request(method, url, **kwargs)
    except httpx.ConnectTimeout as exc:
        host = urlsplit(url).netloc
        raise provider.error(
            VideoErrorKind.NETWORK, f"{where}: could not connect to {host} in time"
        ) from exc
    except httpx.UnsupportedProtocol as exc:
        raise provider.error(
            VideoErrorKind.BAD_REQUEST, f"{where}: {url!r} is not an http(s) URL"
        ) from exc
    except httpx.TimeoutException as exc:
        raise provider.error(
            VideoErrorKind.TIMEOUT, f"{where}: no answer in time ({type(exc).__name__})"
        ) from exc
    except httpx.ConnectError as exc:
        host = urlsplit(url).netloc
        raise provider.error(
            VideoErrorKind.NETWORK, f"{where}: could not connect to {host} ({exc})"
        ) from exc
    except httpx.TransportError as exc:
        raise provider.error(
            VideoErrorKind.NETWORK, f"{where}: the connection failed ({type(exc).__name__})"
        ) from exc
