"""``manage.py reap_runs``: mark runs whose process died ``interrupted`` and relaunch overdue
steps (each server and worker process also does this on its own every few seconds)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from generation.runs.maintenance import reap_stale_runs


class Command(BaseCommand):
    help = (
        "Mark runs whose heartbeat stopped as interrupted, keeping their text so far, and "
        "relaunch step-mode runs whose next step is overdue."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Inline, a step belongs to the server process: its own reaper relaunches it.
        relaunch = settings.AURA_RUNNER == "celery"
        interrupted, relaunched = asyncio.run(reap_stale_runs(relaunch=relaunch))
        self.stdout.write(
            f"{interrupted} run{'s' if interrupted != 1 else ''} interrupted, "
            f"{relaunched} step{'s' if relaunched != 1 else ''} relaunched."
        )
