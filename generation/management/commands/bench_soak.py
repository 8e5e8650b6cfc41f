"""``manage.py bench_soak --minutes 30``: a steady mixed load of scripts, roundtables and video
jobs on one Daphne process against loopback fakes; prints RSS every minute while it runs, then
one JSON object with the RSS series, the error rate and latency percentiles (see
``generation.benchmarks.soak``)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.benchmarks.fake_neura import parse_seconds
from generation.benchmarks.soak import run_soak


class Command(BaseCommand):
    help = "Soak the studio: steady mixed load; RSS over time, error rate, latency percentiles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
        parser.add_argument("--scripts", type=int, default=4, help="script lanes (default 4)")
        parser.add_argument(
            "--roundtables", type=int, default=1, help="roundtable lanes (default 1)"
        )
        parser.add_argument("--videos", type=int, default=2, help="video job lanes (default 2)")
        parser.add_argument(
            "--pause", type=float, default=0.5, help="seconds a lane waits between two runs"
        )
        parser.add_argument(
            "--sample-seconds", type=float, default=60.0, help="seconds between RSS samples"
        )
        parser.add_argument("--words", type=int, default=40, help="words per model answer")
        parser.add_argument("--rate", type=float, default=40.0, help="fake words per second")
        parser.add_argument(
            "--job-seconds", default="3-6", help="how long the fake renders a video: 4 or 3-6"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["minutes"] <= 0:
            raise CommandError("--minutes must be above 0.")
        lanes = {
            "script": options["scripts"],
            "roundtable": options["roundtables"],
            "video": options["videos"],
        }
        if min(lanes.values()) < 0 or sum(lanes.values()) < 1:
            raise CommandError("--scripts, --roundtables and --videos: at least one lane.")
        if options["pause"] < 0 or options["sample_seconds"] <= 0:
            raise CommandError("--pause cannot be negative; --sample-seconds must be above 0.")
        if options["words"] < 1 or options["rate"] <= 0:
            raise CommandError("--words and --rate must be above 0.")
        try:
            job_seconds = parse_seconds(str(options["job_seconds"]))
        except ValueError as exc:
            raise CommandError(f"--job-seconds: {exc}") from None

        def progress(line: str) -> None:
            self.stderr.write(line)
            self.stderr.flush()

        result = run_soak(
            options["minutes"],
            lanes=lanes,
            pause=options["pause"],
            sample_seconds=options["sample_seconds"],
            words=options["words"],
            rate=options["rate"],
            job_seconds=job_seconds,
            progress=progress,
        )
        self.stdout.write(json.dumps(result, indent=2))
