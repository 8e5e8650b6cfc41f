"""``manage.py bench_runs``: K concurrent runs through one Daphne process, each followed by a
WebSocket and an SSE client, against a loopback fake provider; prints one JSON object (see
``generation.benchmarks.runs`` for what is measured and how)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.benchmarks.runs import run_benchmark


class Command(BaseCommand):
    help = "Benchmark live runs: time to first token, batch delay, CPU, RSS, lost text."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--ks", default="10,100,500", help="concurrent runs per phase, comma-separated"
        )
        parser.add_argument("--tokens", type=int, default=400, help="tokens per run")
        parser.add_argument("--rate", type=float, default=30.0, help="fake tokens per second")
        parser.add_argument("--piece", default="tok ", help="the text of one token")
        parser.add_argument(
            "--parts",
            type=int,
            default=1,
            help="parts streaming at once in each run (default 1)",
        )
        parser.add_argument(
            "--ramp",
            type=float,
            default=0.0,
            help="seconds over which a phase's runs start (default 0: all at once)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ks = [int(k) for k in str(options["ks"]).split(",") if k.strip()]
        except ValueError:
            raise CommandError("--ks takes whole numbers separated by commas.") from None
        if not ks or min(ks) < 1:
            raise CommandError("--ks needs at least one number of runs above 0.")
        if options["tokens"] < 1 or options["rate"] <= 0:
            raise CommandError("--tokens and --rate must be above 0.")
        if options["ramp"] < 0:
            raise CommandError("--ramp cannot be negative.")
        if not 1 <= options["parts"] <= 20:
            raise CommandError("--parts takes 1 to 20.")
        result = run_benchmark(
            ks,
            options["tokens"],
            options["rate"],
            options["piece"],
            options["ramp"],
            options["parts"],
        )
        self.stdout.write(json.dumps(result, indent=2))
