"""What each provider family says about its providers now, for the health figures.

A family (the LLM chain, the video coordinator) registers one source when its app is ready::

    health_source_register("llm", llm_health_facts)     # async () -> list[ProviderFacts]

so that this app needs to import neither: the circuit breaker lives in the chain, the video
registry in the videos app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

ListingCall = Callable[[], Awaitable[object]]
"""The provider's free model-listing (or key-check) call: returns anything, raises on failure
(an error with a ``kind`` attribute names how)."""


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    family: str
    alias: str
    label: str
    configured: bool
    how_to_configure: str = ""
    needs_network: bool = True
    """False for a provider that runs inside the studio (RuleBased): nothing to reach."""
    circuit: str | None = None
    """``closed``, ``open`` or ``half_open``; None for a family without a circuit breaker."""
    circuit_failures: int = 0
    """Failures in a row the circuit has counted (it opens at its threshold)."""
    reopens_at: datetime | None = None
    """When an open circuit lets a probe through again."""
    listing: ListingCall | None = None
    """The free listing call, where the provider has one and is set up."""
    secrets: tuple[str, ...] = ()
    """Values to mask in any message about this provider."""


HealthSource = Callable[[], Awaitable[list[ProviderFacts]]]

_sources: dict[str, HealthSource] = {}


def health_source_register(family: str, source: HealthSource) -> None:
    """Register (or replace) the source of ``family``'s providers."""
    _sources[family] = source


def health_sources() -> dict[str, HealthSource]:
    """Every registered source by family, in registration order."""
    return dict(_sources)
