"""Providers by alias, like Django's CACHES: ``settings.LLM_PROVIDERS[alias]`` names a BACKEND
class and its OPTIONS; the class is imported on first use. Credentials staff entered in the
admin (``generation.costs.ProviderCredential``) are laid over OPTIONS and win over the
environment.

Public API::

    get_provider(alias) -> LLMProvider                      # sync (reads the credentials table)
    await aget_provider(alias) -> LLMProvider
    resolve_chain(choice) -> list[str]                      # "auto" or an alias; sync
    await aresolve_chain(choice) -> list[str]
    await provider_infos() -> list[ProviderInfo]
    known_providers() -> list[str]
    key_test(alias) -> str                                  # sync; the admin's "Test key"
    UnknownProvider (ValueError)

Every provider choice ends in RuleBased, which always answers.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string

from generation.providers.base import LLMProvider, ProviderError, ProviderInfo

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
    overrides = await sync_to_async(_overrides)()
    return _build(alias, overrides)


def _chain(choice: str, overrides: dict[str, dict[str, str]]) -> list[str]:
    choice = (choice or AUTO).strip().lower()

    def configured(alias: str) -> bool:
        return alias in settings.LLM_PROVIDERS and _build(alias, overrides).is_configured()

    if choice == AUTO:
        chain = []
        for alias in settings.AURA_AUTO_CHAIN:
            if alias == RULEBASED or alias in chain:
                continue
            if alias not in settings.LLM_PROVIDERS:
                raise UnknownProvider(alias)
            if configured(alias):
                chain.append(alias)
    else:
        _config(choice)
        chain = [choice]
        if choice not in (OLLAMA, RULEBASED) and configured(OLLAMA):
            chain.append(OLLAMA)
    if RULEBASED in settings.LLM_PROVIDERS and RULEBASED not in chain:
        chain.append(RULEBASED)
    return chain


def resolve_chain(choice: str) -> list[str]:
    """The aliases to try in order. ``auto``: AURA_AUTO_CHAIN's configured providers, then
    RuleBased; an alias: it, then Ollama if configured, then RuleBased."""
    return _chain(choice, _overrides())


async def aresolve_chain(choice: str) -> list[str]:
    overrides = await sync_to_async(_overrides)()
    return _chain(choice, overrides)


async def provider_infos() -> list[ProviderInfo]:
    """What ``GET /api/v1/providers`` shows: every provider, with price and health."""
    from generation.costs.services import aprice_for

    overrides = await sync_to_async(_overrides)()
    providers = [_build(alias, overrides) for alias in settings.LLM_PROVIDERS]

    async def healthy(provider: LLMProvider) -> bool:
        try:
            return bool(await provider.health())
        except Exception:
            return False

    health = await asyncio.gather(*(healthy(p) for p in providers))
    infos = []
    for provider, ok in zip(providers, health, strict=True):
        models = provider.model_names()
        if provider.name == OLLAMA and hasattr(provider, "tags"):
            installed = await provider.tags()
            if installed:
                models = tuple(dict.fromkeys([*models, *installed]))
        quote = await aprice_for(provider.alias, models[0] if models else "")
        infos.append(
            ProviderInfo(
                name=provider.alias,
                label=provider.label or provider.alias,
                location=provider.location,
                tier=provider.tier,
                price_per_1k_input=quote.input_per_1k,
                price_per_1k_output=quote.output_per_1k,
                expected_latency_ms=provider.expected_latency_ms,
                configured=provider.is_configured(),
                healthy=ok,
                models=models,
                supports_streaming=True,
                how_to_configure=provider.how_to_configure,
            )
        )
    return infos


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
