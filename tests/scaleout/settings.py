"""The studio's settings with a quick heartbeat, for the scale-out test's processes: a worker
killed mid-run is found by the reaper within seconds rather than within a minute."""

from __future__ import annotations

from aura_site.settings import *  # noqa: F403

AURA_RUN_HEARTBEAT_SECONDS = 0.5
AURA_RUN_STALE_SECONDS = 4.0
AURA_RUN_REAP_INTERVAL_SECONDS = 1.0
AURA_RUN_STEP_OVERDUE_SECONDS = 2.0
AURA_RUN_STEP_LEASE_SECONDS = 3.0

INSTALLED_APPS = [*INSTALLED_APPS, "tests.scaleout.stepkind.apps.StepKindConfig"]  # noqa: F405
