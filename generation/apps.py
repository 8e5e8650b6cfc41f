from __future__ import annotations

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """The generation package's own commands (``stream``, ``bench_providers``)."""

    name = "generation"
    label = "generation"
