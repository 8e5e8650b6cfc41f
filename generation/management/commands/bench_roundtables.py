"""``manage.py bench_roundtables``: K concurrent roundtable sessions (five agents streaming at
once in each) through one Daphne process; prints one JSON object (see
``generation.benchmarks.roundtables``)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.benchmarks.roundtables import run_benchmark


class Command(BaseCommand):
    help = "Benchmark roundtables: per-agent time to first token, batch delay, CPU, RSS, mixing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ks", default="1,10,20", help="concurrent sessions per phase")
        parser.add_argument("--tokens", type=int, default=120, help="words per answer")
        parser.add_argument("--rate", type=float, default=30.0, help="fake words per second")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ks = [int(k) for k in str(options["ks"]).split(",") if k.strip()]
        except ValueError:
            raise CommandError("--ks takes whole numbers separated by commas.") from None
        if not ks or min(ks) < 1 or options["tokens"] < 2 or options["rate"] <= 0:
            raise CommandError("--ks, --tokens and --rate must be above 0 (--tokens at least 2).")
        self.stdout.write(
            json.dumps(run_benchmark(ks, options["tokens"], options["rate"]), indent=2)
        )
