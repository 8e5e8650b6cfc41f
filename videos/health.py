"""The video providers as the health figures see them: set up or not, and their free key-check
GET (the admin's "Test key": Runway's organization, Luma's credits, the Hub's whoami, the
custom server's health, ComfyUI's system stats), registered as the ``video`` health source by
the videos app. The coordinator has no circuit breaker, so a video provider has no circuit."""

from __future__ import annotations

from django.conf import settings

from generation.health.recording import secrets_of
from generation.health.sources import ListingCall, ProviderFacts
from videos.providers.base import VideoProvider
from videos.providers.registry import avideo_provider
from videos.providers.wire import send, status_error

FAMILY = "video"


def _listing(provider: VideoProvider) -> ListingCall | None:
    url = provider.key_check_url()
    if not url:
        return None

    async def check() -> int:
        response = await send(provider, "GET", url, headers=provider.headers(), what="health check")
        if response.status_code >= 400:
            raise status_error(provider, response, what="health check")
        return response.status_code

    return check


async def video_health_facts() -> list[ProviderFacts]:
    facts = []
    for alias in settings.VIDEO_PROVIDERS:
        provider = await avideo_provider(alias)
        configured = provider.is_configured()
        facts.append(
            ProviderFacts(
                family=FAMILY,
                alias=alias,
                label=provider.label or alias,
                configured=configured,
                how_to_configure=provider.how_to_configure,
                listing=_listing(provider) if configured else None,
                secrets=secrets_of(provider.options),
            )
        )
    return facts
