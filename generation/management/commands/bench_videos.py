"""``manage.py bench_videos``: N video jobs waiting at once on a slow loopback fake of the custom
video server, with one worker process; prints one JSON object (see
``generation.benchmarks.videos`` for what is measured and how)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.benchmarks.fake_neura import parse_seconds
from generation.benchmarks.videos import (
    DEFAULT_POLL_MAX_SECONDS,
    DEFAULT_POLL_SECONDS,
    run_benchmark,
)


class Command(BaseCommand):
    help = "Benchmark waiting video jobs: worker RSS, threads, CPU, polls, finish-to-shown delay."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ns", default="100,1000", help="jobs per phase, comma-separated")
        parser.add_argument(
            "--job-seconds",
            default="30-60",
            help="how long the fake renders each job: 45, or a range such as 30-60",
        )
        parser.add_argument(
            "--runner",
            choices=("inline", "celery"),
            default="inline",
            help="inline: one Daphne process runs every step; celery: one Celery worker (Redis)",
        )
        parser.add_argument(
            "--followers", type=int, default=100, help="jobs per phase followed over SSE"
        )
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=DEFAULT_POLL_SECONDS,
            help="AURA_VIDEO_POLL_SECONDS of the studio under test",
        )
        parser.add_argument(
            "--poll-max-seconds",
            type=float,
            default=DEFAULT_POLL_MAX_SECONDS,
            help="AURA_VIDEO_POLL_MAX_SECONDS of the studio under test",
        )
        parser.add_argument(
            "--celery-concurrency",
            type=int,
            default=4,
            help="threads of the one Celery worker process (--runner celery)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ns = [int(n) for n in str(options["ns"]).split(",") if n.strip()]
        except ValueError:
            raise CommandError("--ns takes whole numbers separated by commas.") from None
        if not ns or min(ns) < 1:
            raise CommandError("--ns needs at least one number of jobs above 0.")
        try:
            job_seconds = parse_seconds(str(options["job_seconds"]))
        except ValueError as exc:
            raise CommandError(f"--job-seconds: {exc}") from None
        if options["followers"] < 0:
            raise CommandError("--followers cannot be negative.")
        if options["poll_seconds"] < 0.05 or options["poll_max_seconds"] < 0.05:
            raise CommandError("--poll-seconds and --poll-max-seconds take 0.05 s or more.")
        if not 1 <= options["celery_concurrency"] <= 64:
            raise CommandError("--celery-concurrency takes 1 to 64.")
        result = run_benchmark(
            ns,
            job_seconds=job_seconds,
            runner=options["runner"],
            followers=options["followers"],
            poll_seconds=options["poll_seconds"],
            poll_max_seconds=options["poll_max_seconds"],
            celery_concurrency=options["celery_concurrency"],
        )
        self.stdout.write(json.dumps(result, indent=2))
