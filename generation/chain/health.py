"""The LLM providers as the health figures see them: set up or not, their circuit, and their
free listing call (the admin's "Test key": Ollama's ``/api/tags``, the cloud providers' model
lists), registered as the ``llm`` health source by the generation app."""

from __future__ import annotations

from datetime import UTC, datetime

from generation.chain.circuit import CircuitBreaker
from generation.health.recording import secrets_of
from generation.health.sources import ProviderFacts
from generation.providers.registry import RULEBASED, aall_providers

FAMILY = "llm"


async def llm_health_facts() -> list[ProviderFacts]:
    breaker = CircuitBreaker.from_settings()
    facts = []
    for provider in await aall_providers():
        circuit = await breaker.snapshot(provider.alias)
        configured = provider.is_configured()
        offline = provider.name == RULEBASED
        facts.append(
            ProviderFacts(
                family=FAMILY,
                alias=provider.alias,
                label=provider.label or provider.alias,
                configured=configured,
                how_to_configure=provider.how_to_configure,
                needs_network=not offline,
                circuit=circuit.state,
                circuit_failures=circuit.failures,
                reopens_at=None
                if circuit.reopens_at is None
                else datetime.fromtimestamp(circuit.reopens_at, tz=UTC),
                listing=provider.test_key if configured and not offline else None,
                secrets=secrets_of(provider.options),
            )
        )
    return facts
