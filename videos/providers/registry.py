"""Video providers by alias, like ``generation.providers.registry`` for LLMs:
``settings.VIDEO_PROVIDERS[alias]`` names a BACKEND class, its OPTIONS and its CATEGORY; the class
is imported on first use. Credentials staff entered in the admin are laid over OPTIONS.

Public API::

    video_provider(alias) -> VideoProvider        # sync (reads the credentials table)
    await avideo_provider(alias) -> VideoProvider
    video_providers() -> list[VideoProvider]      # every alias, in settings order
    category_of(alias) -> str
    UnknownVideoProvider (LookupError)

Which providers a job tries, and in what order, is the coordinator's (``videos.coordinator``).
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from aura_site.db import db_sync_to_async
from videos.providers.base import VideoProvider

CATEGORIES = ("custom", "premium", "free", "self_hosted")


class UnknownVideoProvider(LookupError):
    def __init__(self, alias: str) -> None:
        self.alias = alias
        super().__init__(
            f"Unknown video provider {alias!r}; known: {', '.join(settings.VIDEO_PROVIDERS)}."
        )


_lock = threading.Lock()
_instances: dict[str, tuple[tuple[tuple[str, str], ...], VideoProvider]] = {}


def _config(alias: str) -> dict[str, Any]:
    try:
        return dict(settings.VIDEO_PROVIDERS[alias])
    except KeyError:
        raise UnknownVideoProvider(alias) from None


def category_of(alias: str) -> str:
    category = str(_config(alias).get("CATEGORY") or "premium")
    if category not in CATEGORIES:
        raise ValueError(f"video provider {alias!r}: CATEGORY is one of {', '.join(CATEGORIES)}")
    return category


def _overrides() -> dict[str, dict[str, str]]:
    from generation.costs.credentials import credential_overrides

    return credential_overrides()


def _build(alias: str, overrides: dict[str, dict[str, str]]) -> VideoProvider:
    config = _config(alias)
    options = dict(config.get("OPTIONS") or {})
    options.update(overrides.get(alias, {}))
    fingerprint = tuple(sorted((k, repr(v)) for k, v in options.items()))
    with _lock:
        cached = _instances.get(alias)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
    backend = import_string(str(config["BACKEND"]))
    provider = backend(alias, options)
    if not isinstance(provider, VideoProvider):
        raise TypeError(f"{config['BACKEND']} is not a VideoProvider")
    with _lock:
        _instances[alias] = (fingerprint, provider)
    return provider


def video_provider(alias: str) -> VideoProvider:
    _config(alias)
    return _build(alias, _overrides())


async def avideo_provider(alias: str) -> VideoProvider:
    _config(alias)
    overrides = await db_sync_to_async(_overrides)()
    return _build(alias, overrides)


def video_providers() -> list[VideoProvider]:
    overrides = _overrides()
    return [_build(alias, overrides) for alias in settings.VIDEO_PROVIDERS]


def reset() -> None:
    """Forget built adapters (tests, and after settings change)."""
    with _lock:
        _instances.clear()
