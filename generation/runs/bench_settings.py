"""Settings of the studio under ``manage.py bench_runs``: the studio's own, with script runs on
the plain one-prompt handler (the benchmark measures streaming, not the script pipeline's
validation and revisions)."""

from __future__ import annotations

from aura_site.settings import *  # noqa: F403

AURA_RUN_HANDLERS = {"script": "generation.runs.handlers.script_handler"}
