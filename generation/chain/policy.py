"""Which providers a request tries, in what order, and what the studio shows about them.

``resolve_chain("auto")`` is ``AURA_AUTO_CHAIN``'s configured providers, then RuleBased;
``resolve_chain(alias)`` is that provider, then Ollama if configured, then RuleBased, which
always answers. ``provider_infos()`` lists every provider with its price and health (an
adapter's own cheap check, and whether its circuit is open).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings

from generation.chain.circuit import CircuitBreaker
from generation.costs.services import aprice_for
from generation.providers.base import LLMProvider, ProviderInfo
from generation.providers.registry import (
    AUTO,
    OLLAMA,
    RULEBASED,
    UnknownProvider,
    aall_providers,
    all_providers,
)

__all__ = [
    "NoProviderAvailable",
    "ProviderChoice",
    "aprovider_choose",
    "aresolve_chain",
    "provider_choose",
    "provider_healthy",
    "provider_infos",
    "providers_forget",
    "providers_known",
    "resolve_chain",
]


def _chain(choice: str, providers: Sequence[LLMProvider]) -> list[str]:
    choice = (choice or AUTO).strip().lower()
    by_alias = {provider.alias: provider for provider in providers}

    def configured(alias: str) -> bool:
        provider = by_alias.get(alias)
        return provider is not None and provider.is_configured()

    if choice == AUTO:
        chain: list[str] = []
        for alias in settings.AURA_AUTO_CHAIN:
            if alias == RULEBASED or alias in chain:
                continue
            if alias not in by_alias:
                raise UnknownProvider(alias)
            if configured(alias):
                chain.append(alias)
    else:
        if choice not in by_alias:
            raise UnknownProvider(choice)
        chain = [choice]
        if choice not in (OLLAMA, RULEBASED) and configured(OLLAMA):
            chain.append(OLLAMA)
    if RULEBASED in by_alias and RULEBASED not in chain:
        chain.append(RULEBASED)
    return chain


def resolve_chain(choice: str) -> list[str]:
    """The aliases to try in order (sync: reads the credentials staff entered)."""
    return _chain(choice, all_providers())


async def aresolve_chain(choice: str) -> list[str]:
    return _chain(choice, await aall_providers())


class NoProviderAvailable(Exception):
    """No provider of the chosen chain can serve (unknown name, or none configured)."""


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    """The provider a request starts on: the first of ``requested``'s chain."""

    requested: str
    provider: str
    model: str
    chain: tuple[str, ...]


def _choice(requested: str, model: str | None, providers: Sequence[LLMProvider]) -> ProviderChoice:
    requested = requested or AUTO
    try:
        chain = _chain(requested, providers)
    except UnknownProvider as exc:
        raise NoProviderAvailable(str(exc)) from None
    if not chain:
        raise NoProviderAvailable(f"No configured provider can serve {requested!r}.")
    first = next(provider for provider in providers if provider.alias == chain[0])
    return ProviderChoice(requested, first.alias, model or first.default_model, tuple(chain))


def provider_choose(requested: str, model: str | None = None) -> ProviderChoice:
    return _choice(requested, model, all_providers())


async def aprovider_choose(requested: str, model: str | None = None) -> ProviderChoice:
    return _choice(requested, model, await aall_providers())


async def provider_healthy(provider: LLMProvider, breaker: CircuitBreaker | None = None) -> bool:
    """Whether a call would likely work now: the adapter's own cheap check (never billed) and,
    for a cloud provider, its circuit not open."""
    breaker = breaker or CircuitBreaker.from_settings()
    try:
        if not await provider.health():
            return False
    except Exception:
        return False
    if provider.location == "local":
        return True
    return await breaker.state(provider.alias) != "open"


INFO_TTL_SECONDS = 10.0
_cache_lock = threading.Lock()
_cache: tuple[float, list[ProviderInfo]] | None = None


def providers_known() -> list[ProviderInfo]:
    """``provider_infos()`` for pages (sync), cached for a few seconds: health checks are cheap
    but not free, and forms ask on every keystroke."""
    global _cache
    now = time.monotonic()
    with _cache_lock:
        if _cache is not None and now - _cache[0] < INFO_TTL_SECONDS:
            return _cache[1]
    infos = list(async_to_sync(provider_infos)())
    with _cache_lock:
        _cache = (time.monotonic(), infos)
    return infos


def providers_forget() -> None:
    global _cache
    with _cache_lock:
        _cache = None


async def provider_infos() -> list[ProviderInfo]:
    """What ``GET /api/v1/providers`` shows: every provider, with price and health."""
    providers = await aall_providers()
    breaker = CircuitBreaker.from_settings()
    health = await asyncio.gather(*(provider_healthy(p, breaker) for p in providers))
    infos = []
    for provider, ok in zip(providers, health, strict=True):
        models = provider.model_names()
        tags = getattr(provider, "tags", None)
        if provider.name == OLLAMA and tags is not None:
            installed = await tags()
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
