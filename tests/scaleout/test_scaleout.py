"""Scaled out: two Daphne processes and a Celery worker on PostgreSQL and channels_redis.

A run started through process A streams on the worker; it is followed live over the WebSocket
through process B and over SSE through both; a cancel sent through B stops it (the fake provider
sees the stream closed). A second run's worker is killed (SIGKILL) mid-run: the reaper of a web
process marks the run interrupted with its partial text. Runs when CI=true (needs PostgreSQL and
Redis on 127.0.0.1); every process is stopped and the database dropped at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from generation.benchmarks.fake_openai import FakeOpenAIServer
from generation.benchmarks.studio import ROOT, daphne_start, manage
from tests import secrets_watch
from tests.fakes.hostile import audit_html
from tests.scaleout.conftest import FAILED

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "scale-out-pass-phrase-42"


@dataclass
class Cluster:
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def manage(self, *args: str) -> str:
        return manage(self.env, *args, timeout=120)

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.processes[name] = process
        return process

    def daphne(self, name: str) -> str:
        process, url = daphne_start(self.env, self.logs / f"{name}.log", attempts=1)
        self.processes[name] = process
        self.urls[name] = url
        return url

    def worker(self) -> subprocess.Popen[bytes]:
        process = self.spawn(
            "worker",
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
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
            ],
        )
        deadline = time.monotonic() + 60
        while "ready" not in self.log("worker"):
            assert process.poll() is None and time.monotonic() < deadline, self.log("worker")
            time.sleep(0.1)
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for path in self.logs.glob("*.log"):
            secrets_watch.add(path.read_text(errors="replace"))


@pytest.fixture
def cluster(
    require_services: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    import psycopg
    import redis

    name = f"aura_scale_{secrets.token_hex(4)}"
    redis_db = 1 + secrets.randbelow(15)
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "OPENAI_", "OLLAMA_", "AURA_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.scaleout.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}",
        AURA_RUNNER="celery",
        AURA_DATA_DIR=str(tmp_path),
        DJANGO_DEBUG="false",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        OLLAMA_HOST="http://127.0.0.1:9",
        PYTHONUNBUFFERED="1",
    )
    cluster = Cluster(env=env, logs=tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()
        if request.node.stash.get(FAILED, False):
            for process in ("a", "b", "worker"):
                sys.stderr.write(f"\n--- {process} log ---\n{cluster.log(process)[-4000:]}\n")
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _setup_people(cluster: Cluster) -> tuple[int, str]:
    cluster.manage("migrate", "--noinput", "-v", "0")
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from aura_site.projects.models import Membership, Project, Role\n"
        f"user = get_user_model().objects.create_user('ada', 'ada@example.com', {PASSWORD!r})\n"
        "project = Project.objects.create(name='Scale film', created_by=user)\n"
        "Membership.objects.create(project=project, user=user, role=Role.OWNER)\n"
        "print(project.pk)\n"
    )
    project_id = int(cluster.manage("shell", "-c", script).strip().splitlines()[-1])
    token = cluster.manage("createapitoken", "ada").strip().split()[-1]
    return project_id, token


def _session_cookie(base: str) -> str:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=20) as client:
        page = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        response = client.post(
            "/accounts/login/",
            data={"username": "ada", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{base}/accounts/login/"},
        )
        assert response.status_code in (302, 303), response.text[:500]
        return str(client.cookies["sessionid"])


async def _sse(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
    """Yield (id, event, data) of an SSE response, parsed by httpx-sse."""
    from httpx_sse import aconnect_sse

    async with aconnect_sse(client, method, url, **kwargs) as source:
        async for event in source.aiter_sse():
            if not event.data:
                # A `: keep-alive` comment and its blank line: httpx-sse dispatches it once an
                # id has been seen, where the WHATWG rules dispatch nothing for empty data.
                continue
            try:
                data = json.loads(event.data)
            except ValueError:
                raise AssertionError(
                    f"not JSON: {event!r} ({source.response.headers.get('content-type')})"
                ) from None
            yield int(event.id), event.event, data


@dataclass
class Followed:
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(d["content"] for _, e, d in self.events if e == "chunk")

    @property
    def names(self) -> list[str]:
        return [e for _, e, _ in self.events]


async def _follow(
    client: httpx.AsyncClient, method: str, url: str, into: Followed, **kw: Any
) -> None:
    async for item in _sse(client, method, url, **kw):
        into.events.append(item)


async def _ws_follow(url: str, cookie: str, origin: str, dom_id: str, seen: list[str]) -> str:
    """Follow a script run over the WebSocket until the server closes it; returns the text
    shown (the words of the sections it is drawn in, as ``drawn`` gives them)."""
    import websockets

    from tests.runs.conftest import PanelView

    view = PanelView(dom_id)
    async with websockets.connect(
        url,
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": origin},
        max_size=None,  # the final panel of a long run holds its whole text
    ) as socket_:
        async for message in socket_:
            seen.append(str(message))
            view.apply(str(message))
    return audit_html(view.sections_html)[1]


def drawn(dom_id: str, text: str) -> str:
    """The words a script run's ``text`` shows when drawn in sections (the default delivery)."""
    from generation.scripts.constants import DEFAULT_DELIVERY, DELIVERY_BY_SLUG
    from generation.scripts.panel import text_html

    wpm = DELIVERY_BY_SLUG[DEFAULT_DELIVERY].words_per_minute
    return audit_html(text_html(dom_id, text, wpm))[1]


def test_a_run_is_followed_and_cancelled_across_processes(cluster: Cluster) -> None:
    with FakeOpenAIServer(tokens=600, tokens_per_second=20.0, process=True) as fake:
        cluster.env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.base_url)
        project_id, token = _setup_people(cluster)
        a, b = cluster.daphne("a"), cluster.daphne("b")
        cluster.worker()
        cookie = _session_cookie(b)
        asyncio.run(_scenario(cluster, fake, a, b, project_id, token, cookie))


async def _scenario(
    cluster: Cluster,
    fake: FakeOpenAIServer,
    a: str,
    b: str,
    project_id: int,
    token: str,
    cookie: str,
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    body = {"project": project_id, "topic": "Tides across processes", "provider": "openai"}
    async with httpx.AsyncClient(headers=auth, timeout=httpx.Timeout(60, read=60)) as client:
        # 1. Start through A and follow its SSE; follow through B over SSE and the WebSocket.
        through_a = Followed()
        started = asyncio.create_task(
            _follow(client, "POST", f"{a}/api/v1/scripts/stream", through_a, json=body)
        )
        while "chunk" not in through_a.names:
            assert not started.done(), started
            await asyncio.sleep(0.05)
        run_id = through_a.events[0][2]["run_id"]
        through_b = Followed()
        sse_b = asyncio.create_task(
            _follow(client, "GET", f"{b}/api/v1/runs/{run_id}/events", through_b)
        )
        ws_messages: list[str] = []
        ws_b = asyncio.create_task(
            _ws_follow(
                f"ws://{b.removeprefix('http://')}/ws/runs/{run_id}/",
                cookie,
                b,
                f"run-{run_id}",
                ws_messages,
            )
        )
        while sum(1 for m in ws_messages if 'hx-swap-oob="beforeend"' in m) < 3:
            assert not ws_b.done(), ws_b
            await asyncio.sleep(0.05)

        # 2. Cancel through B.
        response = await client.post(f"{b}/api/v1/runs/{run_id}/cancel")
        assert response.status_code == 200, response.text
        state = response.json()
        assert state["status"] == "cancelled", state

        shown = await asyncio.wait_for(ws_b, 30)
        await asyncio.wait_for(asyncio.gather(started, sse_b), 30)
        assert through_a.names[-1] == through_b.names[-1] == "cancelled"
        assert through_a.text == through_b.text == state["text"]
        assert shown == drawn(f"run-{run_id}", state["text"])
        assert 0 < len(state["text"]) < len("tok " * 600)
        assert [i for i, _, _ in through_b.events] == list(range(1, len(through_b.events) + 1))
        assert 'data-status="cancelled"' in ws_messages[-1]
        assert fake.wait_for_disconnects(1, timeout=10)
        worker_log = cluster.log("worker")
        assert run_id in worker_log or "runs.execute_run" in worker_log

        # 3. A second run; its worker is killed mid-stream; the reaper interrupts it.
        second = Followed()
        follower = asyncio.create_task(
            _follow(client, "POST", f"{a}/api/v1/scripts/stream", second, json=body)
        )
        while second.names.count("chunk") < 3:
            assert not follower.done(), follower
            await asyncio.sleep(0.05)
        cluster.processes["worker"].send_signal(signal.SIGKILL)
        cluster.processes["worker"].wait(timeout=10)
        await asyncio.wait_for(follower, 60)
        assert second.names[-1] == "error"
        error = second.events[-1][2]
        assert error["code"] == "interrupted"
        state = (await client.get(f"{b}/api/v1/runs/{second.events[0][2]['run_id']}")).json()
        assert state["status"] == "interrupted"
        assert state["text"] == error["text"] == second.text != ""


def test_a_step_run_on_celery_survives_its_worker_dying_and_submits_once(
    cluster: Cluster,
) -> None:
    """A step-mode run waits between steps on Celery countdowns; its worker is killed while it
    waits; the reaper relaunches the overdue step on a new worker, and the external job was
    submitted exactly once."""
    import redis

    project_id, token = _setup_people(cluster)
    a = cluster.daphne("a")
    cluster.worker()
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from aura_site.projects.models import Project\n"
        "from generation.runs.services import run_start\n"
        "user = get_user_model().objects.get(username='ada')\n"
        f"project = Project.objects.get(pk={project_id})\n"
        "run = run_start(user=user, project=project, kind='scaleout_waiting', input={'polls': 5})\n"
        "print(run.pk)\n"
    )
    run_id = cluster.manage("shell", "-c", script).strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}

    def state() -> dict[str, Any]:
        response = httpx.get(f"{a}/api/v1/runs/{run_id}", headers=auth, timeout=20)
        assert response.status_code == 200, response.text
        return dict(response.json())

    deadline = time.monotonic() + 60
    while state()["parts"][0]["status"] != "running":
        assert time.monotonic() < deadline, state()
        time.sleep(0.2)
    cluster.processes["worker"].send_signal(signal.SIGKILL)
    cluster.processes["worker"].wait(timeout=10)
    cluster.worker()
    deadline = time.monotonic() + 90
    while (current := state())["status"] not in ("succeeded", "failed", "interrupted"):
        assert time.monotonic() < deadline, current
        time.sleep(0.3)
    assert current["status"] == "succeeded", current
    assert current["result"]["polls"] == 5
    assert current["parts"][0]["status"] == "succeeded"
    from tests.scaleout.stepkind.kind import submissions_key

    submitted = redis.Redis.from_url(cluster.env["REDIS_URL"]).get(submissions_key(run_id))
    assert submitted == b"1"
    # The step the dead worker held was relaunched by a reaper, not interrupted.
    logs = cluster.log("a") + cluster.log("worker")
    assert f"run {run_id}: step" in logs and "overdue; relaunched" in logs, logs[-2000:]


def test_a_video_job_runs_on_the_celery_worker_and_its_clip_is_served_by_any_web_process(
    cluster: Cluster,
) -> None:
    """A video job started through process A is submitted, polled and checked on the worker
    (Celery countdowns between polls); process B serves its clip with range requests; the
    provider saw one submit."""
    from tests.fakes.videos import FakeNeura
    from tests.videos_media.make import moving_pattern_mp4

    clip = moving_pattern_mp4(seconds=2.0)
    with FakeNeura(video=clip) as neura:
        neura.next_job(["queued", {"status": "processing", "progress": 0.4}, "completed"])
        cluster.env.update(
            NEURA_AI_SERVER=neura.base_url,
            NEURA_API_KEY=neura.api_key,
            AURA_VIDEO_POLL_SECONDS="0.3",
            AURA_VIDEO_POLL_MAX_SECONDS="0.5",
        )
        project_id, token = _setup_people(cluster)
        a, b = cluster.daphne("a"), cluster.daphne("b")
        cluster.worker()
        auth = {"Authorization": f"Bearer {token}"}
        started = httpx.post(
            f"{a}/api/v1/videos",
            json={"project": project_id, "prompt": "A tugboat at dawn", "model": "neura"},
            headers=auth,
            timeout=20,
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        deadline = time.monotonic() + 90
        while (job := httpx.get(f"{b}/api/v1/videos/{job_id}", headers=auth, timeout=20).json())[
            "status"
        ] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, job
            time.sleep(0.3)
        submits = [r for r in neura.api_requests if r.method == "POST"]
    assert job["status"] == "succeeded", job
    assert len(submits) == 1
    assert job["metadata"]["frames"] == 48
    clip_path = job["video_url"].split("://", 1)[1].split("/", 1)[1]
    served = httpx.get(f"{b}/{clip_path}", headers={**auth, "Range": "bytes=0-99"}, timeout=20)
    assert served.status_code == 206 and served.content == clip[:100]
    assert "Task runs.execute_step" in cluster.log("worker")  # the steps ran on the worker
