"""The runs benchmark (``manage.py bench_runs``): K concurrent runs through one Daphne process.

A loopback fake of the OpenAI API (its own process) emits ``tokens`` tokens per stream at
``rate`` tokens/s. The studio runs in one Daphne subprocess on a fresh SQLite database, with the
runs' plain one-prompt handler. For each K, K runs start at once through ``POST
/api/v1/scripts/stream`` (that response is each run's SSE client) and each run is also followed
by a WebSocket client (``/ws/runs/<id>/``).

Two warm-up runs go first (imports, templates, connections), unreported. Measured per phase:

- ``added_ttft_ms``: the SSE client's first chunk minus the moment the fake's first token reached
  the studio (``run.first_token_at``, stamped as the adapter yields it; the loopback hop before
  it is well under a millisecond), p50 and p99;
- ``batch_delay_ms``: for each chunk, the client's receipt minus the moment the run emitted the
  batch (``RunEvent.created_at``, stamped when the batch is cut, before it waits to be stored and
  fanned out), p50 and p99, for the SSE and the WebSocket clients; and for the SSE clients once
  every run is streaming (``_once_all_streaming``: without the burst of K runs starting at once);
- server CPU (seconds and percent of one core over the phase) and RSS (before, peak, growth per
  stream) of the Daphne process, with psutil;
- ``texts_lost_or_reordered``: runs whose SSE chunks, WebSocket text or stored text differ from
  what the fake sent, or whose event ids have a gap (must be 0).
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from generation.benchmarks.fake_openai import FakeOpenAIServer
from generation.benchmarks.studio import daphne_start, manage, process_stop

PHASE_SECONDS_EXTRA = 180.0
"""A phase ends at the latest this long after four times the fake's own streaming time."""
PASSWORD = "bench-pass-phrase-42"  # noqa: S105  (a throwaway account of a temporary database)
TERMINAL = ("done", "cancelled", "error")


@dataclass
class Probe:
    """What the two clients of one run saw."""

    index: int
    run_id: str = ""
    sse: list[tuple[int, str, float, str]] = field(default_factory=list)
    """(id, event, received at, content) of every SSE event."""
    final_text: str | None = None
    ws_snapshot_chars: int = 0
    ws_appends: list[tuple[float, str]] = field(default_factory=list)
    ws_text: str = ""
    ws_status: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def sse_text(self) -> str:
        return "".join(content for _, event, _, content in self.sse if event == "chunk")


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return round(ordered[index], 2)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "max": round(max(values), 2) if values else None,
        "n": len(values),
    }


class Studio:
    """The studio under test: one Daphne subprocess on a fresh SQLite database."""

    def __init__(self, data_dir: Path, fake: FakeOpenAIServer, streams: int) -> None:
        self.data_dir = data_dir
        self.db_path = data_dir / "bench.sqlite3"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AURA_", "OPENAI_", "OLLAMA_", "REDIS_", "DATABASE_"))
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="generation.runs.bench_settings",
            DATABASE_URL=f"sqlite:///{self.db_path}",
            AURA_DATA_DIR=str(data_dir),
            AURA_RUNNER="inline",
            AURA_MAX_CONCURRENT_STREAMS=str(streams),
            AURA_MAX_STREAMS_PER_USER=str(streams),
            AURA_LOG_LEVEL="WARNING",
            OPENAI_API_KEY="sk-bench",
            OPENAI_BASE_URL=fake.base_url,
            OLLAMA_HOST="http://127.0.0.1:9",
            DJANGO_DEBUG="false",
            DJANGO_SECURE_SSL_REDIRECT="false",
            DJANGO_SECURE_COOKIES="false",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)

    def prepare(self) -> tuple[int, str]:
        self.manage("migrate", "--noinput", "-v", "0")
        script = (
            "from django.contrib.auth import get_user_model\n"
            "from aura_site.projects.models import Membership, Project, Role\n"
            "user = get_user_model().objects.create_user("
            f"'bench', 'bench@example.com', {PASSWORD!r})\n"
            "project = Project.objects.create(name='Benchmark', created_by=user)\n"
            "Membership.objects.create(project=project, user=user, role=Role.OWNER)\n"
            "print(project.pk)\n"
        )
        project_id = int(self.manage("shell", "-c", script).strip().splitlines()[-1])
        token = self.manage("createapitoken", "bench").strip().split()[-1]
        return project_id, token

    def start(self) -> str:
        self.process, self.base_url = daphne_start(self.env, self.data_dir / "daphne.log")
        return self.base_url

    def log(self) -> str:
        path = self.data_dir / "daphne.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def session_cookie(self) -> str:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            page = client.get("/accounts/login/")
            match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            if match is None:
                raise RuntimeError("the login page has no CSRF token")
            client.post(
                "/accounts/login/",
                data={
                    "username": "bench",
                    "password": PASSWORD,
                    "csrfmiddlewaretoken": match.group(1),
                },
                headers={"Referer": f"{self.base_url}/accounts/login/"},
            )
            return str(client.cookies["sessionid"])

    def stop(self) -> None:
        process_stop(self.process, timeout=15)


class Sampler:
    """CPU and RSS of the Daphne process over one phase."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.rss_before = self.process.memory_info().rss
        self.rss_peak = self.rss_before
        times = self.process.cpu_times()
        self.cpu_before = times.user + times.system
        self.started = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.rss_peak = max(self.rss_peak, self.process.memory_info().rss)
            await asyncio.sleep(0.2)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sample())

    def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
        times = self.process.cpu_times()
        cpu = times.user + times.system - self.cpu_before
        wall = time.monotonic() - self.started
        self.rss_peak = max(self.rss_peak, self.process.memory_info().rss)
        return {
            "server_cpu_seconds": round(cpu, 2),
            "server_cpu_percent": round(100 * cpu / wall, 1) if wall else None,
            "rss_mb_before": round(self.rss_before / 2**20, 1),
            "rss_mb_peak": round(self.rss_peak / 2**20, 1),
            "rss_growth_bytes": self.rss_peak - self.rss_before,
        }


def _parse_sse(buffer: str) -> tuple[list[dict[str, str]], str]:
    blocks = buffer.split("\n\n")
    rest = blocks.pop()
    events = []
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "event" in fields:
            events.append(fields)
    return events, rest


async def _follow_sse(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], probe: Probe, started: asyncio.Event
) -> None:
    buffer = ""
    async with client.stream("POST", url, json=body) as response:
        if response.status_code != 200:
            probe.errors.append(f"start: HTTP {response.status_code} {await response.aread()!r}")
            started.set()
            return
        async for chunk in response.aiter_text():
            received = time.time()
            buffer += chunk
            events, buffer = _parse_sse(buffer)
            for fields in events:
                event = fields["event"]
                data = json.loads(fields["data"])
                content = data.get("content", "") if event == "chunk" else ""
                probe.sse.append((int(fields["id"]), event, received, content))
                if event == "run":
                    probe.run_id = data["run_id"]
                    started.set()
                elif event in TERMINAL:
                    probe.final_text = data.get("text")
                    if event != "done":
                        probe.errors.append(f"{event}: {data.get('message', '')}")


async def _follow_ws(base_url: str, cookie: str, probe: Probe) -> None:
    import websockets

    dom_id = f"run-{probe.run_id}"
    marker = f'<div id="{dom_id}-text"'
    pattern = re.compile(re.escape(marker) + r"([^>]*)>(.*?)</div>", re.S)
    status = re.compile(r'<section id="' + re.escape(dom_id) + r'"[^>]*data-status="([a-z]+)"')
    url = base_url.replace("http://", "ws://") + f"/ws/runs/{probe.run_id}/"
    async with websockets.connect(
        url,
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": base_url},
        max_size=None,
        open_timeout=300,
        ping_interval=None,
        close_timeout=60,
    ) as socket_:
        first = True
        async for message in socket_:
            received = time.time()
            text = str(message)
            if marker in text:
                for attributes, content in pattern.findall(text):
                    value = html.unescape(content)
                    if 'hx-swap-oob="beforeend"' in attributes:
                        probe.ws_text += value
                        probe.ws_appends.append((received, value))
                    else:
                        probe.ws_text = value
                        if first:
                            probe.ws_snapshot_chars = len(value)
            found = status.search(text)
            if found:
                probe.ws_status = found.group(1)
            first = False


async def _one_run(
    client: httpx.AsyncClient,
    base_url: str,
    cookie: str,
    body: dict[str, Any],
    probe: Probe,
    delay: float,
) -> None:
    await asyncio.sleep(delay)
    started = asyncio.Event()
    sse = asyncio.create_task(
        _follow_sse(client, f"{base_url}/api/v1/scripts/stream", body, probe, started)
    )
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait([sse, waiting], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    try:
        if probe.run_id:
            await _follow_ws(base_url, cookie, probe)
    except Exception as exc:
        probe.errors.append(f"websocket: {type(exc).__name__}: {exc}")
    try:
        await sse
    except Exception as exc:
        probe.errors.append(f"sse: {type(exc).__name__}: {exc}")


def _stored(
    db_path: Path, run_ids: list[str]
) -> tuple[dict[str, float], dict[str, dict[int, float]], dict[str, str]]:
    """first_token_at, chunk created_at by seq, and final text of each run (epoch seconds)."""

    def epoch(value: str | None) -> float | None:
        if not value:
            return None
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    first: dict[str, float] = {}
    created: dict[str, dict[int, float]] = {}
    texts: dict[str, str] = {}
    keys = [run_id.replace("-", "") for run_id in run_ids]
    with sqlite3.connect(db_path) as db:
        for key, run_id in zip(keys, run_ids, strict=True):
            row = db.execute(
                "SELECT first_token_at, text FROM runs_run WHERE id = ?", (key,)
            ).fetchone()
            if row is None:
                continue
            stamp = epoch(row[0])
            if stamp is not None:
                first[run_id] = stamp
            texts[run_id] = row[1]
            created[run_id] = {
                seq: epoch(at) or 0.0
                for seq, at in db.execute(
                    "SELECT seq, created_at FROM runs_runevent"
                    " WHERE run_id = ? AND event = 'chunk'",
                    (key,),
                )
            }
    return first, created, texts


async def _phase(
    studio: Studio,
    project_id: int,
    token: str,
    cookie: str,
    k: int,
    expected_text: str,
    deadline: float,
    ramp: float = 0.0,
) -> dict[str, Any]:
    assert studio.process is not None
    sampler = Sampler(studio.process.pid)
    sampler.start()
    started = time.monotonic()
    probes = [Probe(index) for index in range(k)]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(600, connect=60)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=timeout
    ) as client:
        clients = [
            asyncio.create_task(
                _one_run(
                    client,
                    studio.base_url,
                    cookie,
                    {
                        "project": project_id,
                        "topic": f"Benchmark run {probe.index}",
                        "provider": "openai",
                        "duration_seconds": 120,
                    },
                    probe,
                    ramp * probe.index / k,
                )
            )
            for probe in probes
        ]
        _, unfinished = await asyncio.wait(clients, timeout=deadline)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
            for probe in probes:
                if probe.final_text is None or not probe.ws_status:
                    probe.errors.append(f"unfinished after the phase's {deadline:.0f} s")
    wall = time.monotonic() - started
    resources = sampler.stop()
    run_ids = [probe.run_id for probe in probes if probe.run_id]
    first_token, created, stored_texts = _stored(studio.db_path, run_ids)

    ttft_sse: list[float] = []
    delay_sse: list[float] = []
    delay_ws: list[float] = []
    steady_sse: list[float] = []
    all_streaming = max(first_token.values(), default=0.0)
    bad: list[str] = []
    errors: list[str] = []
    for probe in probes:
        errors.extend(probe.errors)
        if not probe.run_id:
            bad.append(f"run {probe.index}: never started")
            continue
        chunks = [(seq, at, content) for seq, event, at, content in probe.sse if event == "chunk"]
        ids = [seq for seq, _, _, _ in probe.sse]
        t0 = first_token.get(probe.run_id)
        if t0 is not None and chunks:
            ttft_sse.append((chunks[0][1] - t0) * 1000)
        stamps = created.get(probe.run_id, {})
        for seq, at, _ in chunks:
            if seq in stamps:
                delay_sse.append((at - stamps[seq]) * 1000)
                if stamps[seq] > all_streaming:
                    steady_sse.append((at - stamps[seq]) * 1000)
        # The WebSocket's appends follow the chunks after its snapshot, in order.
        offset, position = 0, 0
        ordered = [(seq, content) for seq, _, content in chunks]
        while position < len(ordered) and offset < probe.ws_snapshot_chars:
            offset += len(ordered[position][1])
            position += 1
        for (received, _), (seq, _) in zip(probe.ws_appends, ordered[position:], strict=False):
            if seq in stamps:
                delay_ws.append((received - stamps[seq]) * 1000)
        stored = stored_texts.get(probe.run_id)
        if ids != list(range(1, len(ids) + 1)):
            bad.append(f"{probe.run_id}: SSE ids with a gap or out of order")
        if not (probe.sse_text == probe.final_text == stored == probe.ws_text == expected_text):
            bad.append(
                f"{probe.run_id}: text differs (sse {len(probe.sse_text)}, "
                f"ws {len(probe.ws_text)}, stored {len(stored or '')}, "
                f"expected {len(expected_text)})"
            )
    growth = resources.pop("rss_growth_bytes")
    return {
        "k": k,
        "runs_completed": sum(1 for p in probes if p.final_text is not None),
        "client_errors": len(errors),
        "client_error_kinds": dict(Counter(error[:60] for error in errors)),
        "wall_seconds": round(wall, 1),
        "added_ttft_ms": summary(ttft_sse),
        "batch_delay_ms": summary(delay_sse),
        "batch_delay_ms_websocket": summary(delay_ws),
        "batch_delay_ms_once_all_streaming": summary(steady_sse),
        **resources,
        "rss_growth_kb_per_stream": round(growth / 1024 / k, 1),
        "texts_lost_or_reordered": len(bad),
        "problems": (errors[:5] + bad)[:10],
    }


@contextmanager
def _environment(
    tokens: int, rate: float, piece: str, streams: int
) -> Iterator[tuple[Studio, FakeOpenAIServer]]:
    with (
        tempfile.TemporaryDirectory(prefix="aura-bench-") as temp,
        FakeOpenAIServer(tokens=tokens, tokens_per_second=rate, piece=piece, process=True) as fake,
    ):
        studio = Studio(Path(temp), fake, streams)
        try:
            yield studio, fake
        finally:
            studio.stop()


def run_benchmark(
    ks: list[int], tokens: int, rate: float, piece: str, ramp: float = 0.0
) -> dict[str, Any]:
    """``ramp``: the K runs of a phase start spread over this many seconds (0: all at once)."""
    expected_text = piece * tokens
    deadline = PHASE_SECONDS_EXTRA + 4 * tokens / rate
    with _environment(tokens, rate, piece, max(ks) + 10) as (studio, fake):
        project_id, token = studio.prepare()
        studio.start()
        cookie = studio.session_cookie()
        fake.configure(tokens=20)
        asyncio.run(_phase(studio, project_id, token, cookie, 2, piece * 20, deadline))
        fake.configure(tokens=tokens)
        results = []
        for k in ks:
            phase = _phase(studio, project_id, token, cookie, k, expected_text, deadline, ramp)
            results.append(asyncio.run(phase))
            time.sleep(1)
        log_tail = _log_problems(studio.log())
    aims = _aims(results)
    return {
        "benchmark": "runs",
        "config": {
            "tokens_per_run": tokens,
            "fake_tokens_per_second": rate,
            "piece": piece,
            "ks": ks,
            "ramp_seconds": ramp,
            "cpus": os.cpu_count(),
            "server": "one Daphne process, inline runner, SQLite, in-memory channel layer",
            "clients_per_run": {"sse": 1, "websocket": 1},
        },
        "results": results,
        "aims": aims,
        "server_log_problems": log_tail if any(r["problems"] for r in results) else [],
    }


_ACCESS_LINE = re.compile(r'^\S+ - - \[[^\]]+\] "')


def _log_problems(log: str, limit: int = 40) -> list[str]:
    """The server log's last ``limit`` lines that are not access-log lines (errors, warnings,
    tracebacks)."""
    lines = [line for line in log.splitlines() if line.strip() and not _ACCESS_LINE.match(line)]
    return lines[-limit:]


def _aims(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_k = {result["k"]: result for result in results}
    aims: dict[str, Any] = {}
    if 10 in by_k:
        value = by_k[10]["added_ttft_ms"]["p50"]
        aims["added_ttft_p50_under_20ms_at_k10"] = {
            "value": value,
            "met": value is not None and value < 20,
        }
    if 100 in by_k:
        value = by_k[100]["batch_delay_ms"]["p99"]
        aims["batch_delay_p99_under_100ms_at_k100"] = {
            "value": value,
            "met": value is not None and value < 100,
        }
    if 500 in by_k:
        value = by_k[500]["rss_growth_kb_per_stream"]
        held = (
            by_k[500]["runs_completed"] == 500
            and by_k[500]["texts_lost_or_reordered"] == 0
            and by_k[500]["client_errors"] == 0
        )
        aims["k500_held_rss_growth_under_300kb_per_stream"] = {
            "value": value,
            "held": held,
            "met": held and value < 300,
        }
    aims["no_text_lost_or_reordered"] = all(r["texts_lost_or_reordered"] == 0 for r in results)
    return aims
