from __future__ import annotations

from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Installed only by the benchmark's settings (``generation.benchmarks.settings``)."""

    name = "generation.benchmarks"
    label = "benchmarks"

    def ready(self) -> None:
        from generation.benchmarks.kinds import BENCH_KIND, BENCH_PARTS_KIND
        from generation.runs.kinds import register

        register(BENCH_KIND)
        register(BENCH_PARTS_KIND)
