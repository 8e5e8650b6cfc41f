"""The video benchmark (``manage.py bench_videos``): N video jobs waiting at once on a slow
custom video server, with one worker process.

A loopback fake of the custom server (``generation.benchmarks.fake_neura``, its own process)
keeps each task ``processing`` for 30-60 s (spread evenly by the order of submits), then answers
``completed`` with one real small MP4 made with PyAV. The studio runs on a fresh SQLite database
with ``NEURA_AI_SERVER`` pointed at the fake and no other video provider, so each job is one
attempt on the custom server: a step-mode run (submit once, poll with backoff, fetch the clip,
check it is a real moving video, store it and its thumbnail, finish).

The worker is one process: with ``runner="inline"`` (the studio's embedded default) the one
Daphne process that takes the API calls also runs every step on its event loop; with
``runner="celery"`` a Daphne process takes the API calls and serves the followers while one
Celery worker process (its thread pool) runs every step, over Redis (the broker and the channel
layer).

For each N, N jobs are started through ``POST /api/v1/videos`` (a few at a time, as fast as the
studio takes them) and a sample of them (``followers``) is followed over SSE
(``GET /api/v1/runs/{run_id}/events``). Measured per phase:

- the worker process's peak RSS, its thread count (before, peak) and its CPU (seconds, percent
  of one core over the phase and while every job waits), sampled with psutil;
- polls: every ``GET /api/v1/task/{id}`` the fake received, their rate (mean and the busiest
  second) and how late each came against the job's backoff schedule (``poll_lateness_ms``: the
  gap since the job's previous call minus the delay the schedule asks for; and by 10 s of the
  phase: ``[seconds from the phase's start, polls, p50, p99]``);
- ``finish_to_shown_ms``: the moment the job succeeded in the database (its terminal event,
  stored with the run's end) minus the fake's finish moment of its task, for every job; and
  ``finish_to_shown_ms_sse``, the SSE follower's receipt of the terminal event minus the same
  moment, for the followed jobs; ``completed_poll_to_shown_ms``, the part of it after the poll
  that saw the task completed (fetch, checks, storing); and ``excess_over_interval_ms``, the
  delay minus the interval of the poll that saw it (the schedule's delay before that poll);
- correctness: jobs succeeded, each task submitted exactly once (the fake counts the submits of
  every idempotency key), one attempt per job, one download per task, and how many jobs were
  waiting at the fake at once.

Aims (``aims``): 1,000 waiting jobs in one worker under 200 MB RSS; finish-to-shown p99 under the
poll interval plus 1 s (for each job, the interval of the poll that saw its finish; and the plain
p99 against the backoff's ceiling, ``AURA_VIDEO_POLL_MAX_SECONDS``, plus 1 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psutil

from generation.benchmarks.fake_neura import FakeNeuraProcess
from generation.benchmarks.runs import Studio, _epoch, _parse_sse, percentile
from generation.benchmarks.studio import ROOT, process_stop

DEFAULT_POLL_SECONDS = 5.0
DEFAULT_POLL_MAX_SECONDS = 20.0
"""The studio's own defaults of ``AURA_VIDEO_POLL_SECONDS`` / ``AURA_VIDEO_POLL_MAX_SECONDS``."""
SUBMIT_CONCURRENCY = 16
TERMINAL = ("done", "cancelled", "error")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled", "interrupted")
RSS_AIM_MB = 200.0
AIM_N = 1000
DROPPED_ENV = (
    "AURA_",
    "OPENAI_",
    "OLLAMA_",
    "REDIS_",
    "DATABASE_",
    "NEURA_",
    "RUNWAY_",
    "LUMA_",
    "HF_",
    "SELF_HOSTED_",
    "CELERY_",
)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": round(max(values), 2) if values else None,
        "n": len(values),
    }


def schedule(poll_seconds: float, poll_max_seconds: float, count: int) -> list[float]:
    """The delays before each of a job's first ``count`` polls (``videos.jobs``: the first
    poll ``poll_seconds`` after the submit; then each wait is the last one times 1.5, up to the
    ceiling, starting from ``poll_seconds``)."""
    delays = [poll_seconds]
    delay = poll_seconds
    while len(delays) < count:
        delays.append(delay)
        delay = min(delay * 1.5, poll_max_seconds)
    return delays[:count]


@dataclass
class Job:
    index: int
    run_id: str = ""
    job_id: int = 0
    submit_error: str = ""
    followed: bool = False
    shown_at: float | None = None
    """The SSE follower's receipt of the terminal event."""
    terminal: str = ""
    errors: list[str] = field(default_factory=list)


class WorkerSampler:
    """RSS, threads and CPU of the worker process, sampled every ``every`` seconds; and of its
    child processes (the clip check processes, ``videos.checking``), apart."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.process = psutil.Process(pid)
        self.every = every
        self.samples: list[tuple[float, float, int, int]] = []
        """(epoch seconds, CPU seconds, RSS bytes, threads)."""
        self.children_rss: list[int] = []
        """The children's summed RSS at each sample."""
        self.children_cpu: dict[int, float] = {}
        """CPU seconds of each child seen, at its last sample."""
        self._task: asyncio.Task[None] | None = None
        self.sample()
        self.children_cpu_before = dict(self.children_cpu)

    def sample(self) -> None:
        with self.process.oneshot():
            times = self.process.cpu_times()
            self.samples.append(
                (
                    time.time(),
                    times.user + times.system,
                    self.process.memory_info().rss,
                    self.process.num_threads(),
                )
            )
        rss = 0
        for child in self.process.children(recursive=True):
            try:
                with child.oneshot():
                    rss += child.memory_info().rss
                    times = child.cpu_times()
                    self.children_cpu[child.pid] = times.user + times.system
            except psutil.Error:
                continue
        self.children_rss.append(rss)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.sample()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.sample()

    def cpu_between(self, start: float, end: float) -> float | None:
        """Percent of one core between two moments (the samples nearest inside them)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 1.0:
            return None
        first, last = inside[0], inside[-1]
        return round(100 * (last[1] - first[1]) / (last[0] - first[0]), 1)

    def figures(self) -> dict[str, Any]:
        first, last = self.samples[0], self.samples[-1]
        wall = last[0] - first[0]
        cpu = last[1] - first[1]
        return {
            "worker_rss_mb_before": round(first[2] / 2**20, 1),
            "worker_rss_mb_peak": round(max(s[2] for s in self.samples) / 2**20, 1),
            "worker_rss_mb_after": round(last[2] / 2**20, 1),
            "worker_threads_before": first[3],
            "worker_threads_peak": max(s[3] for s in self.samples),
            "worker_cpu_seconds": round(cpu, 2),
            "worker_cpu_percent": round(100 * cpu / wall, 1) if wall > 0 else None,
            "check_processes_rss_mb_peak": round(max(self.children_rss) / 2**20, 1),
            "check_processes_cpu_seconds": round(
                sum(
                    cpu - self.children_cpu_before.get(pid, 0.0)
                    for pid, cpu in self.children_cpu.items()
                ),
                2,
            ),
            "check_processes_seen": len(self.children_cpu),
        }


class VideoStudio(Studio):
    """The studio pointed at the fake custom server (and at no other video provider)."""

    def __init__(
        self,
        data_dir: Path,
        fake: FakeNeuraProcess,
        *,
        runner: str,
        poll_seconds: float,
        poll_max_seconds: float,
        redis_url: str = "",
    ) -> None:
        super().__init__(data_dir, SimpleNamespace(base_url="http://127.0.0.1:9/v1"), 10)
        self.env = {k: v for k, v in self.env.items() if not k.startswith(DROPPED_ENV)}
        self.env.update(
            DJANGO_SETTINGS_MODULE="aura_site.settings",
            DATABASE_URL=f"sqlite:///{self.db_path}",
            AURA_DATA_DIR=str(data_dir),
            AURA_RUNNER=runner,
            AURA_LOG_LEVEL="WARNING",
            AURA_VIDEO_POLL_SECONDS=str(poll_seconds),
            AURA_VIDEO_POLL_MAX_SECONDS=str(poll_max_seconds),
            NEURA_AI_SERVER=fake.base_url,
            NEURA_API_KEY=fake.api_key,
            OLLAMA_HOST="http://127.0.0.1:9",
        )
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.runner = runner
        self.worker_process: subprocess.Popen[bytes] | None = None

    @property
    def worker_pid(self) -> int:
        process = self.worker_process if self.runner == "celery" else self.process
        assert process is not None
        return process.pid

    def start_worker(self, concurrency: int) -> None:
        """One Celery worker process (a thread pool) for ``runner="celery"``."""
        log_path = self.data_dir / "worker.log"
        with log_path.open("ab") as log:
            self.worker_process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "aura_site",
                    "worker",
                    "-Q",
                    "aura",
                    "--pool=threads",
                    f"--concurrency={concurrency}",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "info",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while "ready" not in log_path.read_text(errors="replace"):
            if self.worker_process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{self.worker_log()}")
            time.sleep(0.1)

    def worker_log(self) -> str:
        path = self.data_dir / "worker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        process_stop(self.worker_process, timeout=15)
        super().stop()


async def _submit(
    client: httpx.AsyncClient,
    base_url: str,
    project_id: int,
    job: Job,
    gate: asyncio.Semaphore,
    follows: list[asyncio.Task[None]],
) -> None:
    """Start the job; a followed job's SSE follower starts as soon as the job exists."""
    body = {
        "project": project_id,
        "prompt": f"Benchmark clip {job.index}: a slow dolly along a harbour at dusk",
        "model": "neura",
        "duration_seconds": 2,
    }
    async with gate:
        try:
            response = await client.post(f"{base_url}/api/v1/videos", json=body)
        except httpx.HTTPError as exc:
            job.submit_error = f"{type(exc).__name__}: {exc}"
            return
    if response.status_code != 202:
        job.submit_error = f"HTTP {response.status_code}: {response.text[:200]}"
        return
    data = response.json()
    job.run_id, job.job_id = str(data["run_id"]), int(data["id"])
    if job.followed:
        follows.append(asyncio.create_task(_follow(client, base_url, job)))


async def _follow(client: httpx.AsyncClient, base_url: str, job: Job) -> None:
    buffer = ""
    try:
        async with client.stream("GET", f"{base_url}/api/v1/runs/{job.run_id}/events") as response:
            if response.status_code != 200:
                job.errors.append(f"follow: HTTP {response.status_code}")
                return
            async for chunk in response.aiter_text():
                received = time.time()
                buffer += chunk
                events, buffer = _parse_sse(buffer)
                for fields in events:
                    if fields["event"] in TERMINAL:
                        job.shown_at, job.terminal = received, fields["event"]
                        if fields["event"] != "done":
                            data = json.loads(fields.get("data") or "{}")
                            job.errors.append(f"{fields['event']}: {data.get('message', '')}")
                        return
    except httpx.HTTPError as exc:
        job.errors.append(f"follow: {type(exc).__name__}: {exc}")


def _active_count(db_path: Path, run_ids: list[str]) -> int:
    keys = [run_id.replace("-", "") for run_id in run_ids]
    marks = ",".join("?" * len(TERMINAL_STATUSES))
    with sqlite3.connect(db_path, timeout=30) as db:
        ended = 0
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            places = ",".join("?" * len(chunk))
            ended += db.execute(
                f"SELECT COUNT(*) FROM runs_run WHERE id IN ({places}) AND status IN ({marks})",  # noqa: S608
                (*chunk, *TERMINAL_STATUSES),
            ).fetchone()[0]
    return len(keys) - ended


@dataclass
class StoredRun:
    status: str
    error_code: str
    finished_at: float | None
    terminal_at: float | None
    attempts: int
    job_status: str


def _stored(db_path: Path, run_ids: list[str]) -> dict[str, StoredRun]:
    found: dict[str, StoredRun] = {}
    with sqlite3.connect(db_path, timeout=30) as db:
        for run_id in run_ids:
            key = run_id.replace("-", "")
            row = db.execute(
                "SELECT status, error_code, finished_at FROM runs_run WHERE id = ?", (key,)
            ).fetchone()
            if row is None:
                continue
            terminal = db.execute(
                "SELECT MIN(created_at) FROM runs_runevent WHERE run_id = ?"
                " AND event IN ('done', 'cancelled', 'error')",
                (key,),
            ).fetchone()[0]
            attempts = db.execute(
                "SELECT COUNT(*) FROM runs_runpart WHERE run_id = ?", (key,)
            ).fetchone()[0]
            job = db.execute(
                "SELECT status FROM videos_videojob WHERE run_id = ?", (key,)
            ).fetchone()
            found[run_id] = StoredRun(
                status=row[0],
                error_code=row[1] or "",
                finished_at=_epoch(row[2]),
                terminal_at=_epoch(terminal),
                attempts=int(attempts),
                job_status=job[0] if job else "",
            )
    return found


def _waiting_peak(tasks: list[dict[str, Any]]) -> int:
    """The most tasks the fake held submitted and not yet finished at one moment."""
    moments = sorted(
        [(task["submitted_at"], 1) for task in tasks] + [(task["finish_at"], -1) for task in tasks],
        key=lambda pair: (pair[0], pair[1]),
    )
    peak = current = 0
    for _, change in moments:
        current += change
        peak = max(peak, current)
    return peak


def _poll_rates(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    moments = sorted(moment for task in tasks for moment in task["polls"])
    if not moments:
        return {"polls": 0, "poll_rps_mean": None, "poll_rps_peak": None}
    span = moments[-1] - moments[0]
    per_second = Counter(int(moment) for moment in moments)
    return {
        "polls": len(moments),
        "polls_per_job_mean": round(len(moments) / max(1, len(tasks)), 2),
        "poll_rps_mean": round(len(moments) / span, 1) if span > 0 else None,
        "poll_rps_peak": max(per_second.values()),
    }


async def _phase(
    studio: VideoStudio,
    fake: FakeNeuraProcess,
    project_id: int,
    token: str,
    n: int,
    followers: int,
    poll_seconds: float,
    poll_max_seconds: float,
    deadline_seconds: float,
) -> dict[str, Any]:
    fake.reset()
    fake.configure(hold=n)
    sampler = WorkerSampler(studio.worker_pid)
    sampler.start()
    jobs = [Job(index) for index in range(n)]
    if followers:
        every = max(1, n // followers)
        for job in jobs[::every][:followers]:
            job.followed = True
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(None, connect=60)
    started = time.time()
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=timeout
    ) as client:
        gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
        follows: list[asyncio.Task[None]] = []
        await asyncio.gather(
            *(_submit(client, studio.base_url, project_id, job, gate, follows) for job in jobs)
        )
        submitted = time.time()
        run_ids = [job.run_id for job in jobs if job.run_id]
        end_by = time.monotonic() + deadline_seconds
        while run_ids and time.monotonic() < end_by:
            await asyncio.sleep(1.0)
            if await asyncio.to_thread(_active_count, studio.db_path, run_ids) == 0:
                break
        if follows:
            _, late = await asyncio.wait(follows, timeout=30)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
    ended = time.time()
    sampler.stop()
    stats = await asyncio.to_thread(fake.stats)
    stored = await asyncio.to_thread(_stored, studio.db_path, run_ids)
    return _figures(
        n,
        jobs,
        stored,
        stats,
        sampler,
        (started, submitted, ended),
        poll_seconds,
        poll_max_seconds,
    )


def _figures(
    n: int,
    jobs: list[Job],
    stored: dict[str, StoredRun],
    stats: dict[str, Any],
    sampler: WorkerSampler,
    moments: tuple[float, float, float],
    poll_seconds: float,
    poll_max_seconds: float,
) -> dict[str, Any]:
    started, submitted, ended = moments
    tasks: list[dict[str, Any]] = stats["tasks"]
    by_run: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        by_run.setdefault(task["key"].rpartition(":")[0], []).append(task)
    accepted = [job for job in jobs if job.run_id]
    problems: list[str] = [f"job {j.index}: {j.submit_error}" for j in jobs if j.submit_error]
    shown: list[float] = []
    shown_sse: list[float] = []
    after_poll: list[float] = []
    excess: list[float] = []
    lateness: list[float] = []
    timeline: dict[int, list[float]] = {}
    statuses: Counter[str] = Counter()
    error_codes: Counter[str] = Counter()
    submits_not_one = downloads_not_one = attempts_not_one = 0
    for job in accepted:
        run = stored.get(job.run_id)
        statuses[run.status if run else "missing"] += 1
        if run is not None and run.status != "succeeded":
            error_codes[run.error_code or run.status] += 1
        if run is not None and run.attempts != 1:
            attempts_not_one += 1
        mine = by_run.get(job.run_id, [])
        if len(mine) != 1 or mine[0]["submits"] != 1:
            submits_not_one += 1
            counts = [task["submits"] for task in mine]
            problems.append(f"{job.run_id}: {len(mine)} tasks, submits {counts}")
        if not mine:
            continue
        task = mine[0]
        if task["downloads"] != 1:
            downloads_not_one += 1
        polls = task["polls"]
        delays = schedule(poll_seconds, poll_max_seconds, len(polls))
        previous = task["submitted_at"]
        for moment, delay in zip(polls, delays, strict=True):
            lateness.append((moment - previous - delay) * 1000)
            timeline.setdefault(int((moment - started) // 10) * 10, []).append(lateness[-1])
            previous = moment
        if run is None or run.status != "succeeded" or run.terminal_at is None:
            continue
        finish = task["finish_at"]
        shown.append((run.terminal_at - finish) * 1000)
        if job.shown_at is not None and job.terminal == "done":
            shown_sse.append((job.shown_at - finish) * 1000)
        seen = task["completed_poll_at"]
        if seen is not None:
            after_poll.append((run.terminal_at - seen) * 1000)
            index = polls.index(seen)
            excess.append((run.terminal_at - finish - delays[index]) * 1000)
    for job in accepted:
        problems.extend(f"{job.run_id}: {error}" for error in job.errors)
    finishes = [task["finish_at"] for task in tasks]
    all_waiting_until = min(finishes) if finishes else submitted
    succeeded = statuses.get("succeeded", 0)
    return {
        "n": n,
        "jobs_started": len(accepted),
        "start_refused_or_failed": n - len(accepted),
        "start_seconds": round(submitted - started, 1),
        "wall_seconds": round(ended - started, 1),
        "jobs_waiting_at_once_peak": _waiting_peak(tasks),
        "jobs_succeeded": succeeded,
        "job_statuses": dict(statuses),
        "error_codes": dict(error_codes),
        "all_succeeded": succeeded == n,
        "fake_tasks": len(tasks),
        "fake_submits": stats["submits"],
        "jobs_not_submitted_exactly_once": submits_not_one,
        "each_submitted_exactly_once": submits_not_one == 0
        and len(tasks) == len(accepted)
        and stats["submits"] == len(accepted),
        "jobs_with_more_than_one_attempt": attempts_not_one,
        "tasks_not_downloaded_exactly_once": downloads_not_one,
        "unknown_task_polls": stats["unknown_polls"],
        **sampler.figures(),
        "worker_cpu_percent_while_all_wait": sampler.cpu_between(submitted, all_waiting_until),
        **_poll_rates(tasks),
        "poll_lateness_ms": summary(lateness),
        "poll_lateness_by_10s": [
            [offset, len(values), percentile(values, 0.5), percentile(values, 0.99)]
            for offset, values in sorted(timeline.items())
        ],
        "finish_to_shown_ms": summary(shown),
        "finish_to_shown_ms_sse": summary(shown_sse),
        "completed_poll_to_shown_ms": summary(after_poll),
        "excess_over_interval_ms": summary(excess),
        "followed_over_sse": sum(1 for job in accepted if job.followed),
        "problems": problems[:10],
    }


def _free_redis_db() -> str:
    """A Redis database of the local server that holds nothing (the runs' broker and channel
    layer for this benchmark alone); empty string when no Redis answers."""
    import redis

    base = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
    for number in secrets.SystemRandom().sample(range(1, 16), 15):
        url = f"{base}/{number}"
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2)
            if client.dbsize() == 0:
                return url
        except redis.RedisError:
            return ""
    return ""


def _redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


@contextmanager
def _environment(
    job_seconds: tuple[float, float],
    runner: str,
    poll_seconds: float,
    poll_max_seconds: float,
) -> Iterator[tuple[VideoStudio, FakeNeuraProcess]]:
    redis_url = _free_redis_db() if runner == "celery" else ""
    if runner == "celery" and not redis_url:
        raise RuntimeError("--runner celery needs a Redis server at 127.0.0.1:6379 (BENCH_REDIS)")
    with (
        tempfile.TemporaryDirectory(prefix="aura-bench-videos-") as temp,
        FakeNeuraProcess(*job_seconds) as fake,
    ):
        studio = VideoStudio(
            Path(temp),
            fake,
            runner=runner,
            poll_seconds=poll_seconds,
            poll_max_seconds=poll_max_seconds,
            redis_url=redis_url,
        )
        try:
            yield studio, fake
        finally:
            studio.stop()
            if redis_url:
                _redis_flush(redis_url)


def _log_problems(*logs: str, limit: int = 20) -> list[str]:
    lines = [
        line
        for log in logs
        for line in log.splitlines()
        if "Traceback" in line or " ERROR " in line or "WARNING" in line or "Error" in line
    ]
    return lines[-limit:]


def run_benchmark(
    ns: list[int],
    *,
    job_seconds: tuple[float, float] = (30.0, 60.0),
    runner: str = "inline",
    followers: int = 100,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    poll_max_seconds: float = DEFAULT_POLL_MAX_SECONDS,
    celery_concurrency: int = 4,
) -> dict[str, Any]:
    """``followers``: jobs of each phase followed over SSE (at most; spread over the phase)."""
    deadline = job_seconds[1] + 4 * poll_max_seconds + 180.0
    with _environment(job_seconds, runner, poll_seconds, poll_max_seconds) as (studio, fake):
        project_id, token = studio.prepare()
        studio.start()
        if runner == "celery":
            studio.start_worker(celery_concurrency)
        fake.configure(job_seconds_min=0.5, job_seconds_max=0.5)
        asyncio.run(
            _phase(studio, fake, project_id, token, 2, 1, poll_seconds, poll_max_seconds, deadline)
        )
        fake.configure(job_seconds_min=job_seconds[0], job_seconds_max=job_seconds[1])
        results = []
        for n in ns:
            phase = _phase(
                studio,
                fake,
                project_id,
                token,
                n,
                min(n, followers),
                poll_seconds,
                poll_max_seconds,
                deadline + n / 20,
            )
            results.append(asyncio.run(phase))
            time.sleep(1)
        log_problems = _log_problems(studio.log(), studio.worker_log())
    return {
        "benchmark": "videos",
        "config": {
            "ns": ns,
            "runner": runner,
            "worker": (
                "the one Daphne process (inline runner: its event loop runs every step)"
                if runner == "inline"
                else f"one Celery worker process (threads pool, concurrency {celery_concurrency})"
            ),
            "job_seconds": list(job_seconds),
            "poll_seconds": poll_seconds,
            "poll_max_seconds": poll_max_seconds,
            "followers_per_phase": followers,
            "database": "SQLite (WAL)",
            "channel_layer": "in-memory" if runner == "inline" else "channels_redis",
            "cpus": os.cpu_count(),
        },
        "results": results,
        "aims": _aims(results, poll_max_seconds),
        "server_log_problems": log_problems,
    }


def _aims(results: list[dict[str, Any]], poll_max_seconds: float) -> dict[str, Any]:
    aims: dict[str, Any] = {}
    for result in results:
        n = result["n"]
        if n == AIM_N:
            value = result["worker_rss_mb_peak"]
            aims[f"n{n}_waiting_in_one_worker_under_{RSS_AIM_MB:.0f}mb"] = {
                "value": value,
                "check_processes_mb": result["check_processes_rss_mb_peak"],
                "waiting_at_once": result["jobs_waiting_at_once_peak"],
                "met": value < RSS_AIM_MB and result["jobs_waiting_at_once_peak"] == n,
            }
        excess = result["excess_over_interval_ms"]["p99"]
        aims[f"n{n}_finish_to_shown_p99_under_its_poll_interval_plus_1s"] = {
            "excess_p99_ms": excess,
            "met": excess is not None and excess < 1000,
        }
        plain = result["finish_to_shown_ms"]["p99"]
        sse = result["finish_to_shown_ms_sse"]["p99"]
        bound = (poll_max_seconds + 1) * 1000
        aims[f"n{n}_finish_to_shown_p99_under_poll_max_plus_1s"] = {
            "value_ms": plain,
            "sse_value_ms": sse,
            "bound_ms": bound,
            "met": plain is not None and plain < bound and (sse is None or sse < bound),
        }
        aims[f"n{n}_all_succeeded_each_submitted_once"] = (
            result["all_succeeded"] and result["each_submitted_exactly_once"]
        )
    return aims
