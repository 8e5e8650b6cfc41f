from __future__ import annotations

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """The generation package's own commands (``stream``, ``bench_providers``), and the wiring
    between its parts: the provider registry tests the keys staff enter in the costs admin; the
    chain describes the LLM providers to the health figures."""

    name = "generation"
    label = "generation"

    def ready(self) -> None:
        from generation.chain.health import FAMILY, llm_health_facts
        from generation.costs.credentials import key_tester_register
        from generation.health.sources import health_source_register
        from generation.providers.registry import key_test

        key_tester_register(key_test)
        health_source_register(FAMILY, llm_health_facts)
