from __future__ import annotations

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """The generation package's own commands (``stream``, ``bench_providers``), and the wiring
    between its parts: the provider registry tests the keys staff enter in the costs admin."""

    name = "generation"
    label = "generation"

    def ready(self) -> None:
        from generation.costs.credentials import key_tester_register
        from generation.providers.registry import key_test

        key_tester_register(key_test)
