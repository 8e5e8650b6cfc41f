"""The admin's "Test key" for video providers: the cheapest authenticated call each provider has
(Runway's organization, Luma's credits, the Hub's whoami, the custom server's health, ComfyUI's
system stats) with the key and settings in effect now."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings

from videos.providers.base import VideoError, VideoProvider
from videos.providers.registry import video_provider
from videos.providers.wire import send, status_error


def is_video_alias(alias: str) -> bool:
    return alias in settings.VIDEO_PROVIDERS


async def _check(alias: str) -> str:
    provider = video_provider(alias)
    try:
        return await _call(provider, alias)
    except VideoError as exc:
        exc.message = provider.masked(exc.message)
        raise


async def _call(provider: VideoProvider, alias: str) -> str:
    if not provider.is_configured():
        raise provider.error("auth", f"not configured: {provider.how_to_configure}")
    url = provider.key_check_url()
    if not url:
        return "configured (this provider has no key check)"
    response = await send(provider, "GET", url, headers=provider.headers(), what="key check")
    if response.status_code >= 400:
        raise status_error(provider, response, what="key check")
    return f"{provider.label or alias} answered HTTP {response.status_code}"


def video_key_test(alias: str) -> str:
    from generation.costs.credentials import KeyTestFailed

    try:
        return async_to_sync(_check)(alias)
    except VideoError as exc:
        raise KeyTestFailed(f"{exc.kind.value}: {exc.message}") from exc
