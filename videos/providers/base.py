"""The one interface every video provider adapter implements.

An adapter only speaks its provider's wire format (../shared/PROTOCOLS-VIDEO.md); choosing among
providers, retries across them, prices and the checks of a result belong to the coordinator
(``videos.coordinator``). Every method does one short HTTP exchange over the adapter's injected
``httpx.AsyncClient`` and returns at once; nothing waits for a render:

- ``submit(request) -> dict``: start a job; the returned *operation* (JSON) is stored with the
  step that made it, and is all a later ``poll`` or ``cancel`` needs (a job is submitted once);
- ``poll(operation) -> Pending | Done | Failed``: the job's state now;
- ``cancel(operation) -> None``: ask the provider to stop the job (idempotent; a job already
  gone is not an error).

Anything that goes wrong is raised as a ``VideoError`` with a normalised ``kind``, whether
trying again may help (``retryable``) and any ``retry_after`` the provider asked for.
"""

from __future__ import annotations

import asyncio
import enum
import weakref
from dataclasses import dataclass, field
from typing import Any

import httpx

from generation.providers.transport import SECRET_OPTION, mask_secret

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def loop_client() -> httpx.AsyncClient:
    """This event loop's client for provider calls: short exchanges, so a read timeout applies;
    redirects are not followed (a result's download goes through the checked fetch)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=10.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        _clients[loop] = client
    return client


class VideoErrorKind(enum.StrEnum):
    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    CONTENT_FILTER = "content_filter"
    BAD_REQUEST = "bad_request"
    QUOTA = "quota"
    TIMEOUT = "timeout"
    NETWORK = "network"
    UNAVAILABLE = "unavailable"


RETRYABLE = frozenset(
    {
        VideoErrorKind.RATE_LIMIT,
        VideoErrorKind.TIMEOUT,
        VideoErrorKind.NETWORK,
        VideoErrorKind.UNAVAILABLE,
    }
)


class VideoError(Exception):
    def __init__(
        self,
        kind: VideoErrorKind | str,
        message: str,
        *,
        provider: str = "",
        retryable: bool | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = VideoErrorKind(kind)
        self.message = message
        self.provider = provider
        self.retryable = self.kind in RETRYABLE if retryable is None else retryable
        self.retry_after = retry_after
        self.status_code = status_code

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        return f"{where}{self.kind.value}: {self.message}"


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """What to make. ``model`` is the provider-side model id (the catalogue's entry names it);
    ``image`` is the raw bytes of a PNG or JPEG for image-to-video, with its ``image_type``."""

    prompt: str
    model: str = ""
    duration_seconds: float = 5.0
    aspect_ratio: str = "16:9"
    negative_prompt: str = ""
    seed: int | None = None
    image: bytes | None = None
    image_type: str = ""
    idempotency_key: str = ""
    """The same key for the same job, however many times its submit is tried (a provider that
    supports it answers a repeat with the job it already has)."""


@dataclass(frozen=True, slots=True)
class Pending:
    progress: float | None = None
    """0 to 100 where the provider says, else None."""
    state: str = ""
    """The provider's own word for the state (``THROTTLED``, ``dreaming``, ``IN_QUEUE``...)."""
    message: str = ""
    retry_after: float | None = None
    """Seconds before it is worth asking again, where the provider says."""


@dataclass(frozen=True, slots=True)
class Done:
    """The job finished. Its video is at ``url`` (fetched by the coordinator through the checked
    fetch) or, for a provider that hands the bytes over, in ``content``."""

    url: str = ""
    content: bytes | None = None
    content_type: str = ""
    thumbnail_url: str = ""
    cost_usd: str = ""
    """What the provider says the job cost, where it says (a decimal string)."""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    code: str = ""
    """The provider's failure code (``SAFETY.INPUT.TEXT``, ``content_moderated``, ...)."""
    kind: VideoErrorKind = VideoErrorKind.UNAVAILABLE
    retryable: bool = False
    cancelled: bool = False


PollResult = Pending | Done | Failed


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model a provider serves, as the catalogue lists it."""

    name: str
    """The catalogue name (``runway``, ``gen4.5``, ``hunyuan``, ...): what a job asks for."""
    label: str
    provider_model: str
    """The provider-side id."""
    max_duration_seconds: float
    durations: tuple[float, ...] = ()
    """The only durations the model takes (empty: any up to the maximum)."""
    ratios: tuple[str, ...] = ("16:9", "9:16", "1:1")
    image_to_video: bool = False
    text_to_video: bool = True
    quality: str = ""


class VideoProvider:
    """Base class of the adapters."""

    name: str = ""
    label: str = ""
    how_to_configure: str = ""

    def __init__(
        self, alias: str, options: dict[str, Any], *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.alias = alias
        self.options = options
        self._client = client or options.get("client")

    @property
    def client(self) -> httpx.AsyncClient:
        """The injected client, else one pooled client per event loop (a client cannot cross
        loops, and a Celery worker's steps may run on several)."""
        if self._client is not None:
            return self._client
        return loop_client()

    @property
    def base_url(self) -> str:
        return str(self.options.get("base_url") or "").rstrip("/")

    def masked(self, text: str) -> str:
        """``text`` (an error or failure reason from the provider) with this provider's own
        credentials masked: an error body may quote the key it was sent."""
        secrets = [
            value
            for name, value in self.options.items()
            if SECRET_OPTION.search(str(name)) and isinstance(value, str) and len(value) >= 4
        ]
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, mask_secret(secret))
        return text

    def is_configured(self) -> bool:
        return True

    def models(self) -> tuple[ModelSpec, ...]:
        return ()

    def error(self, kind: VideoErrorKind | str, message: str, **extra: Any) -> VideoError:
        return VideoError(kind, message, provider=self.alias, **extra)

    async def submit(self, request: VideoRequest) -> dict[str, Any]:
        raise NotImplementedError

    async def poll(self, operation: dict[str, Any]) -> PollResult:
        raise NotImplementedError

    async def cancel(self, operation: dict[str, Any]) -> None:
        raise NotImplementedError

    def key_check_url(self) -> str:
        """The cheapest authenticated GET that shows the key and settings work (the admin's
        "Test key"); empty when the provider has none."""
        return ""

    def headers(self) -> dict[str, str]:
        return {}

    def download_headers(self, url: str) -> dict[str, str]:
        """Headers the result's download needs (ComfyUI's ``/view`` behind a proxy, HF...)."""
        return {}
