"""Which providers a request tries, in what order, and what the studio shows about them.

``resolve_chain("auto")`` is ``AURA_AUTO_CHAIN``'s configured providers, then RuleBased;
``resolve_chain(alias)`` is that provider, then Ollama if configured, then RuleBased, which
always answers. ``chain_plan`` is the same chain with the providers it left out because they
are not set up (``PassedOver``), so a switch can name them. ``provider_choose(...,
require_configured=True)`` refuses a chosen provider that is not set up
(``ProviderNotConfigured``) instead of starting on its fallbacks. ``provider_infos()`` lists
every provider with its price and health (an adapter's own cheap check, and whether its
circuit is open).
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
    "ChainPlan",
    "NoProviderAvailable",
    "PassedOver",
    "ProviderChoice",
    "ProviderNotConfigured",
    "achain_plan",
    "aprovider_choose",
    "aresolve_chain",
    "chain_plan",
    "provider_choose",
    "provider_healthy",
    "provider_infos",
    "providers_forget",
    "providers_known",
    "resolve_chain",
]


NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True, slots=True)
class PassedOver:
    """A provider a chain leaves out before trying anything: ``before`` is the alias of the
    chain it would have come before ("" after the last)."""

    provider: str
    code: str
    reason: str
    before: str


@dataclass(frozen=True, slots=True)
class ChainPlan:
    chain: tuple[str, ...]
    passed_over: tuple[PassedOver, ...] = ()


def _plan(choice: str, providers: Sequence[LLMProvider]) -> ChainPlan:
    choice = (choice or AUTO).strip().lower()
    by_alias = {provider.alias: provider for provider in providers}

    def configured(alias: str) -> bool:
        provider = by_alias.get(alias)
        return provider is not None and provider.is_configured()

    order: list[str] = []
    if choice == AUTO:
        for alias in settings.AURA_AUTO_CHAIN:
            if alias == RULEBASED or alias in order:
                continue
            if alias not in by_alias:
                raise UnknownProvider(alias)
            order.append(alias)
    else:
        if choice not in by_alias:
            raise UnknownProvider(choice)
        order = [choice]
        if choice not in (OLLAMA, RULEBASED):
            order.append(OLLAMA)
    if RULEBASED in by_alias and RULEBASED not in order:
        order.append(RULEBASED)
    chain = [
        alias
        for position, alias in enumerate(order)
        if configured(alias) or (position == 0 and choice != AUTO) or alias == RULEBASED
    ]
    passed_over = []
    for position, alias in enumerate(order):
        if alias in chain:
            continue
        before = next((later for later in order[position + 1 :] if later in chain), "")
        label = by_alias[alias].label or alias
        passed_over.append(PassedOver(alias, NOT_CONFIGURED, f"{label} is not set up", before))
    return ChainPlan(tuple(chain), tuple(passed_over))


def _chain(choice: str, providers: Sequence[LLMProvider]) -> list[str]:
    return list(_plan(choice, providers).chain)


def chain_plan(choice: str) -> ChainPlan:
    """The chain of ``choice`` and the providers it leaves out because they are not set up."""
    return _plan(choice, all_providers())


async def achain_plan(choice: str) -> ChainPlan:
    return _plan(choice, await aall_providers())


def resolve_chain(choice: str) -> list[str]:
    """The aliases to try in order (sync: reads the credentials staff entered)."""
    return _chain(choice, all_providers())


async def aresolve_chain(choice: str) -> list[str]:
    return _chain(choice, await aall_providers())


class NoProviderAvailable(Exception):
    """No provider of the chosen chain can serve (unknown name, or none configured)."""

    code = "no_provider"


class ProviderNotConfigured(NoProviderAvailable):
    """The provider chosen by name is not set up: nothing is started on its fallbacks."""

    code = "provider_not_configured"

    def __init__(self, provider: str, label: str, how_to_configure: str) -> None:
        self.provider = provider
        self.label = label
        self.how_to_configure = how_to_configure
        how = f" {how_to_configure}" if how_to_configure else ""
        super().__init__(
            f"{label} is not set up, so it cannot be chosen: ask staff to add its key.{how}"
        )


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    """The provider a request starts on: the first of ``requested``'s chain."""

    requested: str
    provider: str
    model: str
    chain: tuple[str, ...]


def _choice(
    requested: str,
    model: str | None,
    providers: Sequence[LLMProvider],
    require_configured: bool = False,
) -> ProviderChoice:
    requested = requested or AUTO
    try:
        chain = _chain(requested, providers)
    except UnknownProvider as exc:
        raise NoProviderAvailable(str(exc)) from None
    if not chain:
        raise NoProviderAvailable(f"No configured provider can serve {requested!r}.")
    first = next(provider for provider in providers if provider.alias == chain[0])
    if require_configured and requested.strip().lower() != AUTO and not first.is_configured():
        raise ProviderNotConfigured(first.alias, first.label or first.alias, first.how_to_configure)
    return ProviderChoice(requested, first.alias, model or first.default_model, tuple(chain))


def provider_choose(
    requested: str, model: str | None = None, *, require_configured: bool = False
) -> ProviderChoice:
    """The provider a request of ``requested`` starts on. With ``require_configured``, a
    provider chosen by name that is not set up is refused (``ProviderNotConfigured``)."""
    return _choice(requested, model, all_providers(), require_configured)


async def aprovider_choose(
    requested: str, model: str | None = None, *, require_configured: bool = False
) -> ProviderChoice:
    return _choice(requested, model, await aall_providers(), require_configured)


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
