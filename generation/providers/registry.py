"""Providers by alias, like Django's CACHES: ``settings.LLM_PROVIDERS[alias]`` names a BACKEND
class and its OPTIONS; the class is imported on first use. Credentials staff entered in the
admin (``generation.costs.ProviderCredential``) are laid over OPTIONS and win over the
environment.

Public API::

    get_provider(alias) -> LLMProvider                      # sync (reads the credentials table)
    await aget_provider(alias) -> LLMProvider
    await aget_providers() -> list[LLMProvider]             # every configured alias, in order
    configured(alias) -> bool                               # sync
    known_providers() -> list[str]
    key_test(alias) -> str                                  # sync; the admin's "Test key"
    UnknownProvider (ValueError)

Which providers a request tries, and in what order, is policy: ``generation.chain``.
"""

from __future__ import annotations

import threading
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils.module_loading import import_string

from aura_site.db import db_sync_to_async
from generation.providers.base import LLMProvider, ProviderError

RULEBASED = "rulebased"
OLLAMA = "ollama"
AUTO = "auto"


class UnknownProvider(ValueError):
    def __init__(self, alias: str) -> None:
        self.alias = alias
        known = ", ".join([AUTO, *known_providers()])
        super().__init__(f"Unknown provider {alias!r}. Choose one of: {known}.")


_lock = threading.Lock()
_instances: dict[str, tuple[tuple[tuple[str, str], ...], LLMProvider]] = {}


def known_providers() -> list[str]:
    return list(settings.LLM_PROVIDERS)


def _config(alias: str) -> dict[str, Any]:
    try:
        return dict(settings.LLM_PROVIDERS[alias])
    except KeyError:
        raise UnknownProvider(alias) from None


def _overrides() -> dict[str, dict[str, str]]:
    from generation.costs.credentials import credential_overrides

    return credential_overrides()


def _build(alias: str, overrides: dict[str, dict[str, str]]) -> LLMProvider:
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
    if not isinstance(provider, LLMProvider):
        raise TypeError(f"{config['BACKEND']} is not an LLMProvider")
    with _lock:
        _instances[alias] = (fingerprint, provider)
    return provider


def get_provider(alias: str) -> LLMProvider:
    """The adapter for ``alias`` with its current options (admin credentials first)."""
    _config(alias)
    return _build(alias, _overrides())


async def aget_provider(alias: str) -> LLMProvider:
    _config(alias)
    overrides = await db_sync_to_async(_overrides)()
    return _build(alias, overrides)


def all_providers() -> list[LLMProvider]:
    """Every provider of ``LLM_PROVIDERS``, in its order, with its current options."""
    overrides = _overrides()
    return [_build(alias, overrides) for alias in settings.LLM_PROVIDERS]


async def aall_providers() -> list[LLMProvider]:
    overrides = await db_sync_to_async(_overrides)()
    return [_build(alias, overrides) for alias in settings.LLM_PROVIDERS]


def key_test(alias: str) -> str:
    """``alias``'s cheapest real call with the key and settings in effect now: its note, or
    ``KeyTestFailed`` naming the error's kind (``auth: …``). The generation app registers it as
    the costs app's key tester."""
    from generation.costs.credentials import KeyTestFailed

    try:
        return async_to_sync(get_provider(alias).test_key)()
    except ProviderError as exc:
        raise KeyTestFailed(f"{exc.kind.value}: {exc.message}") from exc


def reset() -> None:
    """Forget built adapters (tests, and after settings change)."""
    with _lock:
        _instances.clear()
