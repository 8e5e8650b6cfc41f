"""The runs benchmark (``manage.py bench_runs``): K concurrent runs through one Daphne process.

A loopback fake of the OpenAI API (its own process) emits ``tokens`` tokens per stream at
``rate`` tokens/s. The studio runs in one Daphne subprocess on a fresh SQLite database, with the
benchmark's own run kinds (``generation.benchmarks.kinds``: one prompt per part, no validation).
For each K, K runs start at once through ``POST /bench/runs/stream`` (that response is each
run's SSE client) and each run is also followed by a WebSocket client (``/ws/runs/<id>/``).
With ``parts`` above 1 each run streams that many parts at once (K runs, K x parts streams).

A start the studio refuses because it is saturated (429 with ``Retry-After``) is counted as
refused, not as an error: what must hold is that every run it accepted finishes with its text
whole.

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
- ``texts_lost_or_reordered``: accepted runs whose SSE chunks, WebSocket text or stored text
  (of any part) differ from what the fake sent, whose parts' texts were mixed, or whose event
  ids have a gap (must be 0); ``runs_accepted``, ``runs_refused`` and ``runs_completed``.
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
    refused: bool = False
    sse: list[tuple[int, str, float, str, str]] = field(default_factory=list)
    """(id, event, received at, part, content) of every SSE event."""
    final_text: str | None = None
    ended: str = ""
    ws_snapshot: dict[str, str] = field(default_factory=dict)
    ws_appends: list[tuple[float, str, str]] = field(default_factory=list)
    """(received at, part, content) of every WebSocket text append."""
    ws_texts: dict[str, str] = field(default_factory=dict)
    ws_status: str = ""
    errors: list[str] = field(default_factory=list)

    def sse_texts(self) -> dict[str, str]:
        texts: dict[str, str] = {}
        for _, event, _, part, content in self.sse:
            if event == "chunk":
                texts[part] = texts.get(part, "") + content
        return texts


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

    def __init__(self, data_dir: Path, fake: Any, streams: int) -> None:
        """``fake``: a loopback provider server (anything with its OpenAI ``base_url``)."""
        self.data_dir = data_dir
        self.db_path = data_dir / "bench.sqlite3"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AURA_", "OPENAI_", "OLLAMA_", "REDIS_", "DATABASE_"))
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="generation.benchmarks.settings",
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

    def prepare(self, *, extra_users: tuple[str, ...] = ()) -> tuple[int, str]:
        """Migrate the database and make the benchmark's owner, project and API token (and
        ``extra_users``, with the same password), in one process."""
        script = (
            "from django.contrib.auth import get_user_model\n"
            "from django.core.management import call_command\n"
            "from aura_site.accounts.tokens import token_create\n"
            "from aura_site.projects.models import Membership, Project, Role\n"
            "call_command('migrate', interactive=False, verbosity=0)\n"
            "users = get_user_model().objects\n"
            f"user = users.create_user('bench', 'bench@example.com', {PASSWORD!r})\n"
            f"for name in {list(extra_users)!r}:\n"
            f"    users.create_user(name, password={PASSWORD!r})\n"
            "project = Project.objects.create(name='Benchmark', created_by=user)\n"
            "Membership.objects.create(project=project, user=user, role=Role.OWNER)\n"
            "print(project.pk, token_create(user=user, name='benchmark')[1])\n"
        )
        project_id, token = self.manage("shell", "-c", script).strip().splitlines()[-1].split()
        return int(project_id), token

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
        if response.status_code == 429:
            probe.refused = True
            await response.aread()
            started.set()
            return
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
                part = str(data.get("part") or "main") if event == "chunk" else ""
                probe.sse.append((int(fields["id"]), event, received, part, content))
                if event == "run":
                    probe.run_id = data["run_id"]
                    started.set()
                elif event in TERMINAL:
                    probe.ended = event
                    probe.final_text = data.get("text")
                    if event != "done":
                        probe.errors.append(f"{event}: {data.get('message', '')}")


async def _follow_ws(base_url: str, cookie: str, probe: Probe) -> None:
    import websockets

    dom_id = f"run-{probe.run_id}"
    pattern = re.compile(
        r'<div id="' + re.escape(dom_id) + r'(?:-(p\d+))?-text"([^>]*)>(.*?)</div>', re.S
    )
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
            for key, attributes, content in pattern.findall(text):
                part = key or "main"
                value = html.unescape(content)
                if 'hx-swap-oob="beforeend"' in attributes:
                    probe.ws_texts[part] = probe.ws_texts.get(part, "") + value
                    probe.ws_appends.append((received, part, value))
                else:
                    probe.ws_texts[part] = value
                    if first:
                        probe.ws_snapshot[part] = value
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
        _follow_sse(client, f"{base_url}/bench/runs/stream", body, probe, started)
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


@dataclass
class Stored:
    """What the database holds of one run (epoch seconds)."""

    first_token: dict[str, float] = field(default_factory=dict)
    """Each part's first token, as the adapter yielded it."""
    created: dict[int, float] = field(default_factory=dict)
    """Each chunk event's moment (when its batch was cut), by seq."""
    texts: dict[str, str] = field(default_factory=dict)


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _stored(db_path: Path, run_ids: list[str]) -> dict[str, Stored]:
    stored: dict[str, Stored] = {}
    with sqlite3.connect(db_path) as db:
        for run_id in run_ids:
            key = run_id.replace("-", "")
            item = Stored()
            for part, first, text in db.execute(
                "SELECT key, first_token_at, text FROM runs_runpart WHERE run_id = ?", (key,)
            ):
                stamp = _epoch(first)
                if stamp is not None:
                    item.first_token[part] = stamp
                item.texts[part] = text
            item.created = {
                seq: _epoch(at) or 0.0
                for seq, at in db.execute(
                    "SELECT seq, created_at FROM runs_runevent"
                    " WHERE run_id = ? AND event = 'chunk'",
                    (key,),
                )
            }
            stored[run_id] = item
    return stored


async def _phase(
    studio: Studio,
    project_id: int,
    token: str,
    cookie: str,
    k: int,
    expected_text: str,
    deadline: float,
    ramp: float = 0.0,
    parts: int = 1,
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
                        "prompt": f"Benchmark run {probe.index}",
                        "parts": parts,
                        "expected_tokens": len(expected_text) // 4,
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
                if not probe.refused and (not probe.ended or not probe.ws_status):
                    probe.errors.append(f"unfinished after the phase's {deadline:.0f} s")
    wall = time.monotonic() - started
    resources = sampler.stop()
    accepted = [probe for probe in probes if not probe.refused]
    stored = _stored(studio.db_path, [probe.run_id for probe in accepted if probe.run_id])
    keys = ["main"] if parts == 1 else [f"p{number}" for number in range(1, parts + 1)]

    ttft_sse: list[float] = []
    delay_sse: list[float] = []
    delay_ws: list[float] = []
    steady_sse: list[float] = []
    all_streaming = max(
        (stamp for item in stored.values() for stamp in item.first_token.values()), default=0.0
    )
    bad: list[str] = []
    errors: list[str] = []
    for probe in accepted:
        errors.extend(probe.errors)
        if not probe.run_id:
            bad.append(f"run {probe.index}: never started")
            continue
        item = stored.get(probe.run_id, Stored())
        chunks = [
            (seq, at, part, content)
            for seq, event, at, part, content in probe.sse
            if event == "chunk"
        ]
        ids = [seq for seq, *_ in probe.sse]
        for key in keys:
            mine = [(seq, at, content) for seq, at, part, content in chunks if part == key]
            first = item.first_token.get(key)
            if first is not None and mine:
                ttft_sse.append((mine[0][1] - first) * 1000)
            for seq, at, _ in mine:
                if seq in item.created:
                    delay_sse.append((at - item.created[seq]) * 1000)
                    if item.created[seq] > all_streaming:
                        steady_sse.append((at - item.created[seq]) * 1000)
            # The WebSocket's appends follow the part's chunks after its snapshot, in order.
            offset, position = 0, 0
            snapshot = len(probe.ws_snapshot.get(key, ""))
            while position < len(mine) and offset < snapshot:
                offset += len(mine[position][2])
                position += 1
            appends = [(at, content) for at, part, content in probe.ws_appends if part == key]
            for (received, _), (seq, _, _) in zip(appends, mine[position:], strict=False):
                if seq in item.created:
                    delay_ws.append((received - item.created[seq]) * 1000)
        if ids != list(range(1, len(ids) + 1)):
            bad.append(f"{probe.run_id}: SSE ids with a gap or out of order")
        sse_texts = probe.sse_texts()
        for key in keys:
            seen = (sse_texts.get(key, ""), probe.ws_texts.get(key, ""), item.texts.get(key, ""))
            if not all(text == expected_text for text in seen):
                bad.append(
                    f"{probe.run_id}/{key}: text differs (sse {len(seen[0])}, ws {len(seen[1])}, "
                    f"stored {len(seen[2])}, expected {len(expected_text)})"
                )
        if parts == 1 and probe.final_text != expected_text:
            bad.append(f"{probe.run_id}: the done text differs")
        if probe.ended != "done":
            bad.append(f"{probe.run_id}: ended with {probe.ended or 'nothing'}")
    growth = resources.pop("rss_growth_bytes")
    streams = max(1, len(accepted) * parts)
    return {
        "k": k,
        "parts": parts,
        "runs_accepted": len(accepted),
        "runs_refused": len(probes) - len(accepted),
        "runs_completed": sum(1 for p in accepted if p.ended == "done"),
        "client_errors": len(errors),
        "client_error_kinds": dict(Counter(error[:60] for error in errors)),
        "wall_seconds": round(wall, 1),
        "added_ttft_ms": summary(ttft_sse),
        "batch_delay_ms": summary(delay_sse),
        "batch_delay_ms_websocket": summary(delay_ws),
        "batch_delay_ms_once_all_streaming": summary(steady_sse),
        **resources,
        "rss_growth_kb_per_stream": round(growth / 1024 / streams, 1),
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
    ks: list[int], tokens: int, rate: float, piece: str, ramp: float = 0.0, parts: int = 1
) -> dict[str, Any]:
    """``ramp``: the K runs of a phase start spread over this many seconds (0: all at once);
    ``parts``: streams per run."""
    expected_text = piece * tokens
    deadline = PHASE_SECONDS_EXTRA + 4 * tokens / rate
    with _environment(tokens, rate, piece, max(ks) * parts + 10) as (studio, fake):
        project_id, token = studio.prepare()
        studio.start()
        cookie = studio.session_cookie()
        fake.configure(tokens=20)
        asyncio.run(_phase(studio, project_id, token, cookie, 2, piece * 20, deadline, 0, parts))
        fake.configure(tokens=tokens)
        results = []
        for k in ks:
            phase = _phase(
                studio, project_id, token, cookie, k, expected_text, deadline, ramp, parts
            )
            results.append(asyncio.run(phase))
            time.sleep(1)
        log_tail = _log_problems(studio.log())
    return {
        "benchmark": "runs",
        "config": {
            "tokens_per_stream": tokens,
            "fake_tokens_per_second": rate,
            "piece": piece,
            "ks": ks,
            "parts_per_run": parts,
            "ramp_seconds": ramp,
            "cpus": os.cpu_count(),
            "server": "one Daphne process, inline runner, SQLite, in-memory channel layer",
            "clients_per_run": {"sse": 1, "websocket": 1},
        },
        "results": results,
        "aims": _aims(results, parts),
        "server_log_problems": log_tail,
    }


_ACCESS_LINE = re.compile(r'^\S+ - - \[[^\]]+\] "')


def _log_problems(log: str, limit: int = 40) -> list[str]:
    """The server log's last ``limit`` lines that are not access-log lines (errors, warnings,
    tracebacks)."""
    lines = [line for line in log.splitlines() if line.strip() and not _ACCESS_LINE.match(line)]
    return lines[-limit:]


def _aims(results: list[dict[str, Any]], parts: int) -> dict[str, Any]:
    by_k = {result["k"]: result for result in results}
    aims: dict[str, Any] = {}

    def p99_under(k: int, name: str) -> None:
        value = by_k[k]["batch_delay_ms"]["p99"]
        aims[name] = {"value": value, "met": value is not None and value < 100}

    if parts == 1 and 10 in by_k:
        value = by_k[10]["added_ttft_ms"]["p50"]
        aims["added_ttft_p50_under_20ms_at_k10"] = {
            "value": value,
            "met": value is not None and value < 20,
        }
    if parts == 1 and 100 in by_k:
        p99_under(100, "batch_delay_p99_under_100ms_at_k100")
    if parts > 1 and 20 in by_k:
        p99_under(20, f"batch_delay_p99_under_100ms_at_k20_with_{parts}_parts")
    for k in (500, 1000):
        if k in by_k:
            result = by_k[k]
            held = (
                result["runs_completed"] == result["runs_accepted"]
                and result["texts_lost_or_reordered"] == 0
                and result["client_errors"] == 0
            )
            aims[f"k{k}_every_accepted_run_whole"] = {
                "accepted": result["runs_accepted"],
                "refused": result["runs_refused"],
                "met": held,
            }
    if parts == 1 and 500 in by_k:
        value = by_k[500]["rss_growth_kb_per_stream"]
        aims["k500_rss_growth_under_300kb_per_stream"] = {"value": value, "met": value < 300}
    aims["no_text_lost_or_reordered"] = all(r["texts_lost_or_reordered"] == 0 for r in results)
    return aims
