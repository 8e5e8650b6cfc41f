"""``manage.py reap_runs``: mark runs whose process died ``interrupted`` (each server and
worker process also does this on its own every few seconds)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand

from generation.runs.services import reap_stale_runs


class Command(BaseCommand):
    help = "Mark runs whose heartbeat stopped as interrupted, keeping their text so far."

    def handle(self, *args: Any, **options: Any) -> None:
        count = asyncio.run(reap_stale_runs())
        self.stdout.write(f"{count} run{'s' if count != 1 else ''} interrupted.")
