"""Settings of the studio under ``manage.py bench_runs``: the studio's own, with the benchmark's
run kinds and its start route."""

from __future__ import annotations

from aura_site.settings import *  # noqa: F403
from aura_site.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "generation.benchmarks.apps.BenchmarksConfig"]
ROOT_URLCONF = "generation.benchmarks.urls"
