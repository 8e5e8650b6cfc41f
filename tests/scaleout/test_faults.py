"""Faults survived on the scaled-out set-up, nothing lost (issue 14, point 4).

Two Daphne processes and a Celery worker run on a PostgreSQL cluster and a Redis server of this
module's own (started here on free ports), so that restarting them touches nothing else on the
machine. Each test gets a database copied from a migrated template with one owner and project.
Runs when CI=true (the machine's PostgreSQL and Redis tools must be installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from generation.benchmarks.studio import free_port, manage, process_stop
from tests.fakes.providers import (
    SSE_HEADERS,
    FakeProviderServer,
    Pause,
    Reply,
    openai_events,
)
from tests.scaleout.conftest import FAILED
from tests.scaleout.test_scaleout import (
    PASSWORD,
    Cluster,
    Followed,
    _follow,
    _session_cookie,
    _ws_follow,
    drawn,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

TEMPLATE = "aura_faults_template"
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


def _wait(predicate: Any, seconds: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivateRedis:
    """A redis-server of the test's own, without persistence: a restart loses every key."""

    def __init__(self, logs: Path) -> None:
        self.port = free_port()
        self.logs = logs
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.logs / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait(lambda: _port_open(self.port), 20, "redis to listen")

    def stop(self) -> None:
        process_stop(self.process)
        self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, in a temporary directory (owned by ``postgres``
    when the tests run as root, since initdb refuses root)."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise FileNotFoundError("no /usr/lib/postgresql/*/bin/initdb")
        self.bin = found[-1].parent
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="aura-faults-pg-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, *args], check=True, capture_output=True, timeout=120, cwd=self.root
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N"
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "postgres.log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Services:
    postgres: PrivatePostgres
    redis: PrivateRedis
    project_id: int
    token: str


def _base_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "OPENAI_", "OLLAMA_", "AURA_", "NEURA_", "FAULTS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.scaleout.faults_settings",
        AURA_RUNNER="celery",
        AURA_DATA_DIR=str(data_dir),
        DJANGO_DEBUG="false",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        OLLAMA_HOST="http://127.0.0.1:9",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="module")
def services(
    services_available: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    if not services_available:
        pytest.skip(
            "PostgreSQL and Redis are not running on 127.0.0.1 (set CI=true to require them)"
        )
    import psycopg

    logs = tmp_path_factory.mktemp("faults-services")
    postgres = PrivatePostgres()
    redis = PrivateRedis(logs)
    try:
        postgres.init()
        postgres.start()
        redis.start()
        with psycopg.connect(postgres.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        env = _base_env(logs)
        env.update(DATABASE_URL=postgres.url(TEMPLATE), REDIS_URL=f"{redis.url}/0")
        manage(env, "migrate", "--noinput", "-v", "0", timeout=180)
        script = (
            "from django.contrib.auth import get_user_model\n"
            "from aura_site.projects.models import Membership, Project, Role\n"
            f"user = get_user_model().objects.create_user('ada', 'ada@example.com', {PASSWORD!r})\n"
            "project = Project.objects.create(name='Fault film', created_by=user)\n"
            "Membership.objects.create(project=project, user=user, role=Role.OWNER)\n"
            "print(project.pk)\n"
        )
        project_id = int(manage(env, "shell", "-c", script).strip().splitlines()[-1])
        token = manage(env, "createapitoken", "ada").strip().split()[-1]
        yield Services(postgres, redis, project_id, token)
    finally:
        redis.stop()
        postgres.remove()


@pytest.fixture
def cluster(
    services: Services, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    import psycopg
    import redis as redis_client

    name = f"aura_fault_{secrets.token_hex(4)}"
    redis_db = 1 + secrets.randbelow(15)
    with psycopg.connect(services.postgres.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    env = _base_env(tmp_path)
    env.update(
        DATABASE_URL=services.postgres.url(name), REDIS_URL=f"{services.redis.url}/{redis_db}"
    )
    cluster = Cluster(env=env, logs=tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()
        if request.node.stash.get(FAILED, False):
            for process in sorted({*cluster.processes, "worker"}):
                sys.stderr.write(f"\n--- {process} log ---\n{cluster.log(process)[-6000:]}\n")
        with contextlib.suppress(Exception):
            redis_client.Redis.from_url(env["REDIS_URL"]).flushdb()
        with (
            contextlib.suppress(Exception),
            psycopg.connect(services.postgres.url(), autocommit=True) as admin,
        ):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _words(count: int = 100, prefix: str = "w") -> list[str]:
    """Pieces of a script of ``count`` words: 100 fit the 40-second scripts started here, so
    validation passes and no revision follows."""
    return [f"{prefix}{index} " for index in range(count)]


def slow_openai(pieces: list[str], every: float) -> Reply:
    """An OpenAI stream that sends one piece every ``every`` seconds."""
    events = openai_events(pieces, usage=(20, len(pieces)))
    steps: list[Any] = [events[0]]
    for event in events[1 : 1 + len(pieces)]:
        steps.extend([Pause(every), event])
    steps.extend(events[1 + len(pieces) :])
    return Reply(200, dict(SSE_HEADERS), steps)


def _api(services: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {services.token}"}


def _run_state(base: str, services: Services, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/v1/runs/{run_id}", headers=_api(services), timeout=20)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _start_followed(
    client: httpx.AsyncClient, base: str, services: Services, **extra: Any
) -> tuple[str, Followed, asyncio.Task[None]]:
    """Start a script through ``base``'s SSE endpoint; its run id, the events so far and the
    task following the rest."""
    body = {
        "project": services.project_id,
        "topic": "Tides and faults",
        "provider": "openai",
        "duration_seconds": 40,
    }
    body.update(extra)
    followed = Followed()
    task = asyncio.create_task(
        _follow(client, "POST", f"{base}/api/v1/scripts/stream", followed, json=body)
    )
    while not followed.events:
        assert not task.done(), task
        await asyncio.sleep(0.05)
    return str(followed.events[0][2]["run_id"]), followed, task


async def _chunks(followed: Followed, count: int, task: asyncio.Task[None]) -> None:
    while followed.names.count("chunk") < count:
        assert not task.done(), (task, followed.names[-5:])
        await asyncio.sleep(0.05)


def _ws_url(base: str, run_id: str) -> str:
    return f"ws://{base.removeprefix('http://')}/ws/runs/{run_id}/"


# ---- Redis restarted mid-run ---------------------------------------------------------------


def test_redis_restarted_mid_run_viewers_recover_and_the_text_is_whole(
    services: Services, cluster: Cluster
) -> None:
    """A script streams on the worker; a WebSocket viewer follows through process B and an SSE
    viewer through A. Redis (channel layer, broker, cache) is restarted mid-run, losing every
    key: the run goes on, both viewers end on the whole text, and the stored text is whole."""
    pieces = _words(100)
    with FakeProviderServer() as fake:
        fake.push(slow_openai(pieces, 0.06))
        cluster.env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.url("/v1"))
        a, b = cluster.daphne("a"), cluster.daphne("b")
        cluster.worker()
        cookie = _session_cookie(b)
        state = asyncio.run(_redis_scenario(services, cluster, a, b, cookie))
    whole = "".join(pieces)
    assert state["status"] == "succeeded", state
    assert state["text"] == whole


async def _redis_scenario(
    services: Services, cluster: Cluster, a: str, b: str, cookie: str
) -> dict[str, Any]:
    async with httpx.AsyncClient(headers=_api(services), timeout=httpx.Timeout(60)) as client:
        run_id, through_a, started = await _start_followed(client, a, services)
        messages: list[str] = []
        viewer = asyncio.create_task(
            _ws_follow(_ws_url(b, run_id), cookie, b, f"run-{run_id}", messages)
        )
        await _chunks(through_a, 10, started)
        while sum(1 for m in messages if 'hx-swap-oob="beforeend"' in m) < 2:
            assert not viewer.done(), viewer
            await asyncio.sleep(0.05)
        services.redis.stop()
        await asyncio.sleep(1.0)
        services.redis.start()
        shown = await asyncio.wait_for(viewer, 90)
        await asyncio.wait_for(started, 90)
        state = _run_state(b, services, run_id)
    assert 'data-status="succeeded"' in messages[-1], _failure_of(cluster, run_id)
    assert shown == drawn(f"run-{run_id}", state["text"])
    assert through_a.names[-1] == "done", through_a.names[-5:]
    assert through_a.text == state["text"]
    return state


def _failure_of(cluster: Cluster, run_id: str) -> str:
    """Where a run failed, from the worker's log: the lines from its failure on."""
    log = cluster.log("worker")
    at = log.find(f"run {run_id} failed")
    return log[at : at + 6000] if at >= 0 else log[-3000:]


# ---- PostgreSQL restarted mid-run ----------------------------------------------------------


def test_postgres_restarted_mid_run_the_run_never_stays_running(
    services: Services, cluster: Cluster
) -> None:
    """PostgreSQL is stopped (fast: every connection is cut) while a script streams on the
    worker, and started again two seconds later: the run goes on writing and succeeds whole,
    or ends ``interrupted`` keeping the text it had stored; it is never left ``running``. The
    SSE viewer of process A waits out the outage and ends on the stored text."""
    pieces = _words()
    with FakeProviderServer() as fake:
        fake.push(slow_openai(pieces, 0.06))
        cluster.env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.url("/v1"))
        a = cluster.daphne("a")
        cluster.worker()
        state, before = asyncio.run(_postgres_scenario(services, a))
    whole = "".join(pieces)
    assert state["status"] in ("succeeded", "interrupted"), state
    if state["status"] == "succeeded":
        assert state["text"] == whole
    else:
        assert state["error"]["code"] == "interrupted", state
        assert whole.startswith(state["text"]) and len(state["text"]) >= len(before) > 0


async def _postgres_scenario(services: Services, a: str) -> tuple[dict[str, Any], str]:
    async with httpx.AsyncClient(headers=_api(services), timeout=httpx.Timeout(60)) as client:
        run_id, through_a, started = await _start_followed(client, a, services)
        await _chunks(through_a, 15, started)
        await asyncio.sleep(0.5)
        before = _run_state(a, services, run_id)["text"]
        services.postgres.stop()
        await asyncio.sleep(2.0)
        services.postgres.start()
        await asyncio.wait_for(started, 60)

        def ended() -> dict[str, Any] | None:
            try:
                current = _run_state(a, services, run_id)
            except (httpx.HTTPError, AssertionError):
                return None
            return current if current["status"] in TERMINAL else None

        state = await asyncio.to_thread(_wait, ended, 60, "the run to end")
    assert through_a.names[-1] == ("done" if state["status"] == "succeeded" else "error")
    assert through_a.text == state["text"]
    return state, before


# ---- A worker killed mid-roundtable and mid-video poll -------------------------------------


def _kill_worker(cluster: Cluster) -> None:
    cluster.processes["worker"].send_signal(signal.SIGKILL)
    cluster.processes["worker"].wait(timeout=10)


def test_worker_killed_mid_roundtable_the_session_ends_interrupted_with_every_text(
    services: Services, cluster: Cluster
) -> None:
    """The five agents stream at once on the worker; it is killed (SIGKILL) once every agent
    has text stored: the reaper ends the session ``interrupted`` and each agent keeps (at
    least) the text it had stored."""
    pieces = _words(200, "r")
    with FakeProviderServer() as fake:
        fake.push(slow_openai(pieces, 0.05))
        cluster.env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.url("/v1"))
        a = cluster.daphne("a")
        cluster.worker()
        auth = _api(services)
        started = httpx.post(
            f"{a}/api/v1/roundtables",
            json={
                "project": services.project_id,
                "brief": "A lighthouse keeper's last night before automation",
                "platform": "youtube",
                "provider": "openai",
                "debate": "never",
            },
            headers=auth,
            timeout=20,
        )
        assert started.status_code == 202, started.text
        session_id = started.json()["id"]

        def session() -> dict[str, Any]:
            response = httpx.get(f"{a}/api/v1/roundtables/{session_id}", headers=auth, timeout=20)
            assert response.status_code == 200, response.text
            return dict(response.json())

        before = _wait(
            lambda: (
                (s := session())["agents"] and all(len(g["text"]) > 20 for g in s["agents"]) and s
            ),
            60,
            "every agent to have text stored",
        )
        _kill_worker(cluster)
        after = _wait(
            lambda: (s := session())["status"] not in ("queued", "running") and s,
            60,
            "the reaper to end the session",
        )
    assert after["status"] == "interrupted", after
    whole = "".join(pieces)
    for earlier, agent in zip(before["agents"], after["agents"], strict=True):
        assert agent["status"] == "failed", agent
        assert agent["error"]["code"] == "interrupted", agent
        assert len(agent["text"]) >= len(earlier["text"]) > 0
        assert whole.startswith(agent["text"]), agent["text"][:200]
    run = _run_state(a, services, after["run_id"])
    assert run["status"] == "interrupted"


def test_worker_killed_mid_video_poll_resumes_on_a_new_worker_without_submitting_twice(
    services: Services, cluster: Cluster
) -> None:
    """A video job polls the custom server every 0.3 s from the worker; the worker is killed
    (SIGKILL) between polls and a new one started: the overdue step is relaunched, polling
    resumes and the job succeeds, with one submit."""
    from tests.fakes.videos import FakeNeura
    from tests.videos_media.make import moving_pattern_mp4

    clip = moving_pattern_mp4(seconds=2.0)
    with FakeNeura(video=clip) as neura:
        neura.next_job(
            [
                "queued",
                *[{"status": "processing", "progress": p / 20} for p in range(1, 16)],
                "completed",
            ]
        )
        cluster.env.update(
            NEURA_AI_SERVER=neura.base_url,
            NEURA_API_KEY=neura.api_key,
            AURA_VIDEO_POLL_SECONDS="0.3",
            AURA_VIDEO_POLL_MAX_SECONDS="0.5",
        )
        a = cluster.daphne("a")
        cluster.worker()
        auth = _api(services)
        started = httpx.post(
            f"{a}/api/v1/videos",
            json={"project": services.project_id, "prompt": "A tugboat at dawn", "model": "neura"},
            headers=auth,
            timeout=20,
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]

        def polls() -> int:
            return sum(1 for r in neura.api_requests if r.method == "GET")

        _wait(lambda: polls() >= 3, 60, "the job to be polled")
        _kill_worker(cluster)
        polled_before = polls()
        cluster.worker()

        def ended() -> dict[str, Any] | None:
            job = httpx.get(f"{a}/api/v1/videos/{job_id}", headers=auth, timeout=20).json()
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None

        job = _wait(ended, 90, "the video job to end", step=0.3)
        submits = [r for r in neura.api_requests if r.method == "POST"]
        polled_after = polls()
    assert job["status"] == "succeeded", job
    assert len(submits) == 1
    assert polled_after > polled_before
    assert "overdue; relaunched" in cluster.log("a") + cluster.log("worker")


# ---- A provider that hangs before its first byte, one that stalls mid-stream ---------------


def test_provider_time_outs_fall_back_before_text_and_keep_the_text_after(
    services: Services, cluster: Cluster
) -> None:
    """With 1.5 s first-token and stall time-outs: a provider that stalls after ten words ends
    its run with those words kept and no fallback; a provider that answers its headers and
    then nothing is given up on and Auto falls back to RuleBased, which writes the script."""
    said = _words(10, "s")
    stalled = Reply(200, dict(SSE_HEADERS), openai_events(said, done=False)[:-2], end="hang")
    silent = Reply(200, dict(SSE_HEADERS), [], end="hang")
    with FakeProviderServer() as fake:
        fake.push(stalled, silent)
        cluster.env.update(
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL=fake.url("/v1"),
            FAULTS_FIRST_TOKEN_TIMEOUT="1.5",
            FAULTS_STALL_TIMEOUT="1.5",
            AURA_AUTO_CHAIN="openai,rulebased",
        )
        a = cluster.daphne("a")
        cluster.worker()
        stall, hang = asyncio.run(_time_out_scenario(services, a))
        assert fake.disconnects >= 2
    stall_state, stall_events = stall
    assert stall_state["status"] == "failed", stall_state
    assert stall_state["text"] == stall_events.text == "".join(said)
    assert "stall_timeout" in stall_state["error"]["message"], stall_state["error"]
    assert "provider_switch" not in stall_events.names
    hang_state, hang_events = hang
    assert hang_state["status"] == "succeeded", hang_state
    switches = [d for _, e, d in hang_events.events if e == "provider_switch"]
    assert switches, hang_events.names
    assert "first_token_timeout" in str(switches[0]), switches[0]
    assert hang_state["provider"] == "rulebased", hang_state
    assert hang_state["text"] and hang_state["text"] == hang_events.text


async def _time_out_scenario(
    services: Services, a: str
) -> tuple[tuple[dict[str, Any], Followed], tuple[dict[str, Any], Followed]]:
    results = []
    async with httpx.AsyncClient(headers=_api(services), timeout=httpx.Timeout(60)) as client:
        for provider in ("openai", "auto"):
            run_id, followed, task = await _start_followed(client, a, services, provider=provider)
            await asyncio.wait_for(task, 90)
            results.append((_run_state(a, services, run_id), followed))
    return results[0], results[1]


# ---- A viewer on a slow connection ---------------------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _stalled_viewer(base: str, run_id: str, cookie: str) -> socket.socket:
    """A WebSocket client that completes the handshake with a tiny receive buffer and then
    never reads."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sock.sendall(
        (
            f"GET /ws/runs/{run_id}/ HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {base}\r\nCookie: sessionid={cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _established(port: int, peer: int) -> bool:
    result = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} and dport = :{peer} )"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bool(result.stdout.strip())


def test_a_viewer_that_never_reads_stays_bounded_and_others_finish(
    services: Services, cluster: Cluster
) -> None:
    """A run streams about 600 KB; through process B one viewer follows normally and another
    completes its handshake and never reads. B's memory stays within a bound, the normal viewer
    and the run finish whole, and B lets go of the stalled socket after the run ends."""
    pieces = [f"{'x' * 995}{index:04d} " for index in range(600)]  # 600 words: a 240 s script
    with FakeProviderServer() as fake:
        fake.push(slow_openai(pieces, 0.004))
        cluster.env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.url("/v1"))
        a, b = cluster.daphne("a"), cluster.daphne("b")
        cluster.worker()
        cookie = _session_cookie(b)
        b_pid = cluster.processes["b"].pid
        rss_before = _rss_kib(b_pid)
        state, shown, stalled, peak = asyncio.run(
            _slow_viewer_scenario(services, a, b, cookie, b_pid)
        )
        server_port = int(b.rsplit(":", 1)[1])
        peer_port = stalled.getsockname()[1]
        try:
            _wait(
                lambda: not _established(server_port, peer_port),
                60,
                "process B to let go of the stalled viewer",
                step=0.5,
            )
        finally:
            stalled.close()
    whole = "".join(pieces)
    assert state["status"] == "succeeded", state
    assert state["text"] == whole
    assert shown == drawn(f"run-{state['id']}", whole)
    assert peak - rss_before < 64 * 1024, (rss_before, peak)


async def _slow_viewer_scenario(
    services: Services, a: str, b: str, cookie: str, b_pid: int
) -> tuple[dict[str, Any], str, socket.socket, int]:
    async with httpx.AsyncClient(headers=_api(services), timeout=httpx.Timeout(60)) as client:
        run_id, _, started = await _start_followed(client, a, services, duration_seconds=240)
        stalled = await asyncio.to_thread(_stalled_viewer, b, run_id, cookie)
        messages: list[str] = []
        viewer = asyncio.create_task(
            _ws_follow(_ws_url(b, run_id), cookie, b, f"run-{run_id}", messages)
        )
        peak = 0
        deadline = time.monotonic() + 120
        while not viewer.done() and time.monotonic() < deadline:
            peak = max(peak, _rss_kib(b_pid))
            await asyncio.sleep(0.2)
        shown = await asyncio.wait_for(viewer, 120)
        await asyncio.wait_for(started, 60)
        state = _run_state(b, services, run_id)
    return state, shown, stalled, peak
