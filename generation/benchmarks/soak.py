"""The soak (``manage.py bench_soak``): a steady mixed load on one Daphne process for minutes.

The studio runs in one Daphne subprocess on a fresh SQLite database (inline runner, in-memory
channel layer), pointed at two loopback fakes in processes of their own: the roundtable fake of
the OpenAI API (``generation.benchmarks.fake_table``, which also answers scripts) and the fake
custom video server (``generation.benchmarks.fake_neura``). Closed-loop lanes keep the load
steady: each script lane starts a script over ``POST /api/v1/scripts/stream`` and reads it to its
end, then starts the next; each roundtable lane does the same with
``POST /api/v1/roundtables/stream``; each video lane submits ``POST /api/v1/videos`` and follows
the job's events (``GET /api/v1/runs/<id>/events``) to its end. A lane pauses ``pause`` seconds
between two runs.

Every ``sample_seconds`` (a minute by default) one line goes to ``progress``: the minute, the
Daphne process's RSS and the runs finished and failed so far. The result, one JSON object, has
the RSS series, its growth from the first sample to the last, the error rate (runs that did not
end ``done`` over runs finished; a refused start counts as an error too) and the latency
percentiles per kind: start to terminal event, and start to first text for scripts and
roundtables.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psutil

from generation.benchmarks.fake_neura import FakeNeuraProcess
from generation.benchmarks.fake_table import FakeTableProcess
from generation.benchmarks.runs import Studio, _parse_sse, summary

TERMINAL = ("done", "cancelled", "error")
KINDS = ("script", "roundtable", "video")
FIRST_TEXT = {"script": "chunk", "roundtable": "agent_chunk"}


@dataclass
class Outcome:
    kind: str
    ended: str
    seconds: float
    first_text_seconds: float | None = None
    problem: str = ""


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def counts(self) -> tuple[int, int]:
        failed = sum(1 for outcome in self.outcomes if outcome.ended != "done")
        return len(self.outcomes), failed


async def _read_events(
    response: httpx.Response, started: float, kind: str
) -> tuple[str, float | None, str]:
    """Read an SSE response to its terminal event: (terminal event, first text, problem)."""
    buffer = ""
    first_text: float | None = None
    wanted = FIRST_TEXT.get(kind)
    last_id = 0
    async for chunk in response.aiter_text():
        buffer += chunk
        events, buffer = _parse_sse(buffer)
        for fields in events:
            seq = int(fields.get("id") or 0)
            if seq and seq != last_id + 1:
                return "gap", first_text, f"event id {seq} after {last_id}"
            last_id = seq or last_id
            event = fields["event"]
            if first_text is None and event == wanted:
                first_text = time.monotonic() - started
            if event in TERMINAL:
                problem = ""
                if event != "done":
                    data = json.loads(fields.get("data") or "{}")
                    problem = f"{event}: {str(data.get('message', ''))[:120]}"
                return event, first_text, problem
    return "cut", first_text, "the stream ended without a terminal event"


async def _streamed(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], kind: str
) -> Outcome:
    started = time.monotonic()
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")[:160]
                return Outcome(kind, "refused", 0.0, problem=f"HTTP {response.status_code} {text}")
            ended, first, problem = await _read_events(response, started, kind)
    except httpx.HTTPError as exc:
        return Outcome(kind, "network", 0.0, problem=f"{type(exc).__name__}: {exc}")
    return Outcome(kind, ended, time.monotonic() - started, first, problem)


async def _video(client: httpx.AsyncClient, base_url: str, body: dict[str, Any]) -> Outcome:
    started = time.monotonic()
    try:
        response = await client.post(f"{base_url}/api/v1/videos", json=body)
        if response.status_code != 202:
            return Outcome(
                "video",
                "refused",
                0.0,
                problem=f"HTTP {response.status_code} {response.text[:160]}",
            )
        run_id = response.json()["run_id"]
        async with client.stream("GET", f"{base_url}/api/v1/runs/{run_id}/events") as events:
            if events.status_code != 200:
                return Outcome(
                    "video", "refused", 0.0, problem=f"follow: HTTP {events.status_code}"
                )
            ended, _, problem = await _read_events(events, started, "video")
    except httpx.HTTPError as exc:
        return Outcome("video", "network", 0.0, problem=f"{type(exc).__name__}: {exc}")
    return Outcome("video", ended, time.monotonic() - started, None, problem)


def _starters(base_url: str, project_id: int) -> dict[str, Callable[..., Any]]:
    def script(client: httpx.AsyncClient, n: int) -> Any:
        body = {
            "project": project_id,
            "topic": f"Soak script {n}: a harbour pilot guiding a ship in at dusk",
            "duration_seconds": 30,
            "provider": "openai",
        }
        return _streamed(client, f"{base_url}/api/v1/scripts/stream", body, "script")

    def roundtable(client: httpx.AsyncClient, n: int) -> Any:
        body = {
            "project": project_id,
            "brief": f"Soak session {n}: a thirty second film about a harbour pilot at dusk.",
            "platform": "tiktok",
            "duration_seconds": 30,
            "provider": "openai",
        }
        return _streamed(client, f"{base_url}/api/v1/roundtables/stream", body, "roundtable")

    def video(client: httpx.AsyncClient, n: int) -> Any:
        body = {
            "project": project_id,
            "prompt": f"Soak clip {n}: a slow dolly along a harbour at dusk",
            "model": "neura",
            "duration_seconds": 2,
        }
        return _video(client, base_url, body)

    return {"script": script, "roundtable": roundtable, "video": video}


async def _lane(
    start: Callable[..., Any],
    client: httpx.AsyncClient,
    tally: Tally,
    stop_at: float,
    pause: float,
    counter: list[int],
) -> None:
    while time.monotonic() < stop_at:
        counter[0] += 1
        tally.add(await start(client, counter[0]))
        await asyncio.sleep(pause)


async def _sample(
    pid: int,
    tally: Tally,
    started: float,
    every: float,
    rss: list[dict[str, float]],
    progress: Callable[[str], None],
) -> None:
    process = psutil.Process(pid)
    while True:
        await asyncio.sleep(every)
        finished, failed = tally.counts()
        minute = (time.monotonic() - started) / 60
        mb = process.memory_info().rss / 2**20
        rss.append({"minute": round(minute, 2), "rss_mb": round(mb, 1)})
        progress(
            f"minute {minute:5.1f}  rss {mb:7.1f} MB  runs finished {finished}  failed {failed}"
        )


async def _load(
    base_url: str,
    token: str,
    project_id: int,
    pid: int,
    lanes: dict[str, int],
    seconds: float,
    pause: float,
    sample_seconds: float,
    progress: Callable[[str], None],
) -> tuple[Tally, list[dict[str, float]], float]:
    tally = Tally()
    rss: list[dict[str, float]] = []
    process = psutil.Process(pid)
    rss.append({"minute": 0.0, "rss_mb": round(process.memory_info().rss / 2**20, 1)})
    starters = _starters(base_url, project_id)
    started = time.monotonic()
    stop_at = started + seconds
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        timeout=httpx.Timeout(600, connect=60),
    ) as client:
        sampler = asyncio.create_task(_sample(pid, tally, started, sample_seconds, rss, progress))
        counter = [0]
        await asyncio.gather(
            *(
                _lane(starters[kind], client, tally, stop_at, pause, counter)
                for kind, count in lanes.items()
                for _ in range(count)
            )
        )
        sampler.cancel()
    wall = time.monotonic() - started
    mb = process.memory_info().rss / 2**20
    rss.append({"minute": round(wall / 60, 2), "rss_mb": round(mb, 1)})
    return tally, rss, wall


def _figures(tally: Tally, rss: list[dict[str, float]], wall: float) -> dict[str, Any]:
    finished, failed = tally.counts()
    by_kind: dict[str, Any] = {}
    for kind in KINDS:
        outcomes = [o for o in tally.outcomes if o.kind == kind]
        done = [o for o in outcomes if o.ended == "done"]
        entry: dict[str, Any] = {
            "finished": len(outcomes),
            "failed": len(outcomes) - len(done),
            "latency_seconds": summary([o.seconds for o in done]),
        }
        if kind in FIRST_TEXT:
            entry["first_text_seconds"] = summary(
                [o.first_text_seconds for o in done if o.first_text_seconds is not None]
            )
        by_kind[kind] = entry
    # Growth is measured after the first minute's sample, once imports and caches have warmed.
    settled = rss[1:] if len(rss) > 2 else rss
    return {
        "wall_minutes": round(wall / 60, 2),
        "runs_finished": finished,
        "runs_failed": failed,
        "error_rate": round(failed / finished, 4) if finished else None,
        "kinds": by_kind,
        "rss_mb": rss,
        "rss_growth_mb_after_first_sample": round(settled[-1]["rss_mb"] - settled[0]["rss_mb"], 1),
        "problems": [o.problem for o in tally.outcomes if o.problem][:10],
    }


def run_soak(
    minutes: float,
    *,
    lanes: dict[str, int],
    pause: float = 0.5,
    sample_seconds: float = 60.0,
    words: int = 40,
    rate: float = 40.0,
    job_seconds: tuple[float, float] = (3.0, 6.0),
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="aura-bench-soak-") as temp,
        FakeTableProcess(tokens=words, tokens_per_second=rate) as table,
        FakeNeuraProcess(*job_seconds) as neura,
    ):
        studio = Studio(Path(temp), SimpleNamespace(base_url=table.base_url), 50)
        studio.env.update(
            DJANGO_SETTINGS_MODULE="aura_site.settings",
            NEURA_AI_SERVER=neura.base_url,
            NEURA_API_KEY=neura.api_key,
            AURA_VIDEO_POLL_SECONDS="0.5",
            AURA_VIDEO_POLL_MAX_SECONDS="1",
            AURA_MAX_STREAMS_PER_USER=str(sum(lanes.values()) + 5),
        )
        try:
            project_id, token = studio.prepare()
            studio.start()
            assert studio.process is not None
            tally, rss, wall = asyncio.run(
                _load(
                    studio.base_url,
                    token,
                    project_id,
                    studio.process.pid,
                    lanes,
                    minutes * 60,
                    pause,
                    sample_seconds,
                    progress,
                )
            )
            log = studio.log()
        finally:
            studio.stop()
    problems = [line for line in log.splitlines() if "Traceback" in line or " ERROR " in line]
    return {
        "benchmark": "soak",
        "config": {
            "minutes": minutes,
            "lanes": lanes,
            "pause_seconds": pause,
            "words_per_answer": words,
            "fake_words_per_second": rate,
            "video_job_seconds": list(job_seconds),
            "cpus": os.cpu_count(),
            "server": "one Daphne process, inline runner, SQLite, in-memory channel layer",
        },
        **_figures(tally, rss, wall),
        "server_log_problems": problems[-20:],
    }
