"""Loopback fakes of the video providers' APIs (../shared/PROTOCOLS-VIDEO.md §6, §7A, §10), for
tests anywhere in the suite: Runway, Luma Dream Machine and the studio's own job server.

Each fake is a real HTTP server on 127.0.0.1 (``generation.benchmarks.loopback``) holding its jobs
in memory. A job walks through a list of *states*, one per poll: the n-th ``GET`` of a job answers
its n-th state and the last state repeats. A state is a dict of the fields the provider puts in
its answer (a bare string is the status word alone); fields the fake fills in itself (ids, output
URLs, timestamps) may be given to override them::

    from tests.fakes.videos import FakeRunway, runway_failed

    with FakeRunway(api_key="key_test", video=b"...mp4 bytes...") as fake:
        fake.next_job(["PENDING", "THROTTLED", {"status": "RUNNING", "progress": 0.4}, "SUCCEEDED"])
        fake.add_job("f2", [runway_failed("Input rejected", "SAFETY.INPUT.TEXT")])
        fake.push(429, {"error": "Too many requests"}, {"retry-after": "7"})  # the next API call
        fake.push(delay=0.5)                    # the next API call answers normally, 0.5 s late
        provider = RunwayProvider("runway", {"api_key": "key_test", "base_url": fake.base_url})
        ...
        fake.api_requests       # LoopbackRequest list (method, path, query, headers, json())
        fake.media_requests     # the downloads of the videos it serves
        fake.jobs["f2"].polls   # how many times the job was polled
        fake.expire_outputs()   # every output URL handed out so far answers 403 from now on

``next_job`` sets the states of the next job submitted (a queue; ``states=`` given to the
constructor is the default for the others). ``push`` scripts a one-shot answer for the next API
request (optionally only one whose ``method`` and ``path`` prefix match), served before the fake's
own logic; ``status=None`` with a ``delay`` answers normally after the delay. Every fake serves
the test's ``video`` bytes at the URLs it returns.

Edge cases served (§12): Runway's long ``THROTTLED``, float ``progress``, ``FAILED`` with and
without ``failureCode``, ``CANCELLED``, ``204`` on ``DELETE`` then ``404`` on ``GET``, signed
output URLs that 403 once expired while a new ``GET`` signs a fresh one, extra fields
(``estimatedCost``, ``cost``), ``400`` with ``issues[]`` (``runway_validation_error``), ``429``
with or without ``Retry-After``. Luma: ``201`` on create, ``queued → dreaming → completed`` with
``assets`` null until completed, ``failed`` with a ``failure_reason``, ``{"detail": …}`` errors,
``204`` on ``DELETE``. Custom server: ``202`` or the seed's ``200 {"status": "processing"}``,
seed-style answers with only ``status`` and ``result_url``, ``404`` for an unknown task, the same
task for a resubmitted ``idempotency_key``, ``202`` cancels, ``409`` once completed, health.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from generation.benchmarks.loopback import (
    ClientGone,
    LoopbackRequest,
    LoopbackResponse,
    LoopbackServer,
)

SAMPLE_VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
"""Bytes that start like an MP4; tests that check media give their own."""

State = dict[str, Any] | str


@dataclass
class Scripted:
    status: int | None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = ""
    path: str = ""
    delay: float = 0.0

    def matches(self, request: LoopbackRequest) -> bool:
        return (not self.method or request.method == self.method) and request.path.startswith(
            self.path
        )


@dataclass
class FakeJob:
    id: str
    states: list[dict[str, Any]]
    body: Any = None
    """What the submit sent."""
    polls: int = 0
    current: dict[str, Any] = field(default_factory=dict)
    """The state last shown (the creation state before any poll)."""
    override: dict[str, Any] | None = None
    """A state that replaces the script from now on (a cancel)."""
    deleted: bool = False

    def advance(self) -> dict[str, Any]:
        if self.override is not None:
            state = self.override
        else:
            state = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        self.current = state
        return state


class FakeVideoServer:
    """What the three fakes share: the server, scripted answers, jobs, media and tokens."""

    key_field = "status"
    media_prefix = "/media/"
    default_states: Sequence[State] = ()

    def __init__(
        self,
        *,
        api_key: str = "",
        video: bytes = SAMPLE_VIDEO,
        states: Sequence[State] | None = None,
    ) -> None:
        self.api_key = api_key
        self.video = video
        self.states = list(states if states is not None else self.default_states)
        self.jobs: dict[str, FakeJob] = {}
        self._next_states: deque[list[State]] = deque()
        self._scripted: list[Scripted] = []
        self._tokens = 0
        self._expired_below = 0
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._handle)

    # Scripting ---------------------------------------------------------------------------------

    def next_job(self, states: Sequence[State]) -> Self:
        with self._lock:
            self._next_states.append(list(states))
        return self

    def add_job(self, job_id: str, states: Sequence[State], body: Any = None) -> FakeJob:
        job = FakeJob(job_id, [self.state(s) for s in states], body=body)
        with self._lock:
            self.jobs[job_id] = job
        return job

    def push(
        self,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        method: str = "",
        path: str = "",
        delay: float = 0.0,
    ) -> Self:
        with self._lock:
            self._scripted.append(Scripted(status, body, dict(headers or {}), method, path, delay))
        return self

    def expire_outputs(self) -> None:
        """Every signed URL handed out so far now answers 403; a new poll signs a fresh one."""
        with self._lock:
            self._expired_below = self._tokens + 1

    def state(self, value: State) -> dict[str, Any]:
        return {self.key_field: value} if isinstance(value, str) else dict(value)

    # Introspection -----------------------------------------------------------------------------

    def url(self, path: str = "") -> str:
        return self._server.base_url + path

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def requests(self) -> list[LoopbackRequest]:
        return list(self._server.requests)

    @property
    def api_requests(self) -> list[LoopbackRequest]:
        return [r for r in self.requests if not r.path.startswith(self.media_prefix)]

    @property
    def media_requests(self) -> list[LoopbackRequest]:
        return [r for r in self.requests if r.path.startswith(self.media_prefix)]

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()

    # Serving -----------------------------------------------------------------------------------

    def new_job(self, body: Any) -> FakeJob:
        with self._lock:
            states = self._next_states.popleft() if self._next_states else list(self.states)
        return self.add_job(self.new_id(), states, body)

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def signed_url(self, path: str) -> str:
        with self._lock:
            self._tokens += 1
            token = self._tokens
        return f"{self.base_url}{self.media_prefix}{path}?_jwt=t{token}"

    def authorised(self, request: LoopbackRequest) -> bool:
        return not self.api_key or request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def route(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        raise NotImplementedError

    async def _handle(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        try:
            if request.path.startswith(self.media_prefix):
                await self._media(request, response)
                return
            scripted = self._take(request)
            if scripted is not None:
                if scripted.delay:
                    await asyncio.sleep(scripted.delay)
                if scripted.status is not None:
                    await send(response, scripted.status, scripted.body, scripted.headers)
                    return
            await self.route(request, response)
        except ClientGone:
            return

    def _take(self, request: LoopbackRequest) -> Scripted | None:
        with self._lock:
            for index, scripted in enumerate(self._scripted):
                if scripted.matches(request):
                    return self._scripted.pop(index)
        return None

    async def _media(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        token = (request.query.get("_jwt") or [""])[0]
        number = int(token[1:]) if token[:1] == "t" and token[1:].isdigit() else None
        with self._lock:
            expired = number is not None and number < self._expired_below
        if expired:
            await send(
                response,
                403,
                b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>",
                {"content-type": "application/xml"},
            )
            return
        content_type = "image/jpeg" if request.path.endswith(".jpg") else "video/mp4"
        body = b"\xff\xd8\xff\xe0thumb" if content_type == "image/jpeg" else self.video
        await send(response, 200, body, {"content-type": content_type})


async def send(
    response: LoopbackResponse, status: int, body: Any = None, headers: dict[str, str] | None = None
) -> None:
    """``body`` as JSON, or raw bytes as they are; None: no body at all."""
    merged = dict(headers or {})
    if body is None:
        payload = b""
    elif isinstance(body, bytes):
        payload = body
    else:
        merged.setdefault("content-type", "application/json")
        payload = json.dumps(body).encode("utf-8")
    await response.start(status, merged)
    await response.write(payload)
    await response.end()


# Runway ------------------------------------------------------------------------------------------


def runway_failed(failure: str = "An unexpected error occurred.", code: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"status": "FAILED", "failure": failure}
    if code:
        state["failureCode"] = code
    return state


def runway_validation_error(path: str, message: str) -> dict[str, Any]:
    return {
        "error": "Validation of body failed",
        "issues": [{"code": "invalid_value", "path": path.split("."), "message": message}],
        "docUrl": "https://docs.dev.runwayml.com/api",
    }


class FakeRunway(FakeVideoServer):
    """``POST /v1/text_to_video`` and ``/v1/image_to_video``, ``GET`` and ``DELETE
    /v1/tasks/{id}``. A deleted task answers 404 (``after_delete="404"``, as Runway does) or
    shows ``CANCELLED`` (``after_delete="CANCELLED"``). Tasks carry ``estimatedCost`` while
    running and ``cost`` once ended, the way Runway's newer answers do."""

    default_states = ("PENDING", {"status": "RUNNING", "progress": 0.42}, "SUCCEEDED")

    def __init__(
        self,
        *,
        api_key: str = "key_test",
        video: bytes = SAMPLE_VIDEO,
        states: Sequence[State] | None = None,
        after_delete: str = "404",
        cost_credits: int = 60,
    ) -> None:
        super().__init__(api_key=api_key, video=video, states=states)
        self.after_delete = after_delete
        self.cost_credits = cost_credits

    async def route(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        if not self.authorised(request):
            await send(response, 401, {"error": "Invalid API key"})
            return
        if request.method == "POST" and request.path in ("/v1/text_to_video", "/v1/image_to_video"):
            created = self.new_job(request.json())
            await send(response, 200, {"id": created.id})
            return
        if request.path.startswith("/v1/tasks/"):
            job = self.jobs.get(request.path.removeprefix("/v1/tasks/"))
            if job is None or job.deleted:
                await send(response, 404, {"error": "Could not find Task"})
            elif request.method == "GET":
                await send(response, 200, self.task(job, job.advance()))
            elif request.method == "DELETE":
                if self.after_delete == "CANCELLED":
                    job.override = {"status": "CANCELLED"}
                else:
                    job.deleted = True
                await send(response, 204)
            else:
                await send(response, 405, {"error": "Method not allowed"})
            return
        await send(response, 404, {"error": "Not found"})

    def task(self, job: FakeJob, state: dict[str, Any]) -> dict[str, Any]:
        status = state.get("status")
        task: dict[str, Any] = {"id": job.id, "createdAt": "2026-01-01T00:00:00.000Z"}
        if status in ("SUCCEEDED", "FAILED", "CANCELLED"):
            task["cost"] = {"credits": self.cost_credits if status == "SUCCEEDED" else 0}
        else:
            task["estimatedCost"] = {"credits": self.cost_credits}
        if status == "SUCCEEDED":
            task["output"] = [self.signed_url(f"{job.id}.mp4")]
        task.update(state)
        return task


# Luma Dream Machine ------------------------------------------------------------------------------


def luma_failed(reason: str) -> dict[str, Any]:
    return {"state": "failed", "failure_reason": reason}


class FakeLuma(FakeVideoServer):
    """The Dream Machine API under ``/dream-machine/v1`` (pass ``fake.url(FakeLuma.root)`` as
    the base URL): ``POST /generations/video`` (201), ``GET`` and ``DELETE /generations/{id}``
    (204; the generation then answers 404), ``GET /ping``."""

    root = "/dream-machine/v1"
    key_field = "state"
    default_states = ("queued", "dreaming", "completed")

    def __init__(
        self,
        *,
        api_key: str = "luma-test",
        video: bytes = SAMPLE_VIDEO,
        states: Sequence[State] | None = None,
    ) -> None:
        super().__init__(api_key=api_key, video=video, states=states)

    @property
    def api_url(self) -> str:
        return self.url(self.root)

    async def route(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        if not self.authorised(request):
            await send(response, 401, {"detail": "Invalid API key is provided"})
            return
        path = request.path.removeprefix(self.root)
        if request.method == "GET" and path == "/ping":
            await send(response, 200, {"message": "pong"})
            return
        if request.method == "POST" and path == "/generations/video":
            created = self.new_job(request.json())
            created.current = {"state": "queued"}
            await send(response, 201, self.generation(created, created.current))
            return
        if path.startswith("/generations/"):
            job = self.jobs.get(path.removeprefix("/generations/"))
            if job is None or job.deleted:
                await send(response, 404, {"detail": "Generation not found"})
            elif request.method == "GET":
                await send(response, 200, self.generation(job, job.advance()))
            elif request.method == "DELETE":
                job.deleted = True
                await send(response, 204)
            else:
                await send(response, 405, {"detail": "Method Not Allowed"})
            return
        await send(response, 404, {"detail": "Not Found"})

    def generation(self, job: FakeJob, state: dict[str, Any]) -> dict[str, Any]:
        body = job.body if isinstance(job.body, dict) else {}
        generation: dict[str, Any] = {
            "id": job.id,
            "generation_type": "video",
            "state": "queued",
            "failure_reason": None,
            "created_at": "2026-01-01T00:00:00Z",
            "assets": None,
            "model": body.get("model", "ray-2"),
            "request": body,
        }
        if state.get("state") == "completed":
            generation["assets"] = {
                "video": self.signed_url(f"{job.id}.mp4"),
                "image": self.signed_url(f"{job.id}.jpg"),
                "progress_video": None,
            }
        generation.update(state)
        return generation


# The studio's own job server (NEURA_AI_SERVER) ----------------------------------------------------


def neura_failed(code: str, message: str, *, retryable: bool = False) -> dict[str, Any]:
    return {"status": "failed", "error": {"code": code, "message": message, "retryable": retryable}}


class FakeNeura(FakeVideoServer):
    """The custom server's contract (the README, "The custom video server"):
    ``POST /api/v1/video/generate`` (202, the same task for a repeated ``idempotency_key``),
    ``GET`` and ``DELETE /api/v1/task/{id}`` (202; 409 once completed; 404 for an unknown task),
    ``GET /api/v1/health``.

    ``seed_style=True`` answers the way the seed's server did: ``200 {"status": "processing",
    "task_id"}`` on submit and only ``status`` (plus ``result_url`` once completed) on a poll."""

    default_states = ("queued", {"status": "processing", "progress": 0.5}, "completed")

    def __init__(
        self,
        *,
        api_key: str = "neura-test",
        video: bytes = SAMPLE_VIDEO,
        states: Sequence[State] | None = None,
        seed_style: bool = False,
        healthy: bool = True,
        cost_usd: str = "0.25",
    ) -> None:
        super().__init__(api_key=api_key, video=video, states=states)
        self.seed_style = seed_style
        self.healthy = healthy
        self.cost_usd = cost_usd
        self.by_key: dict[str, str] = {}

    def authorised(self, request: LoopbackRequest) -> bool:
        if not self.api_key:
            return True
        return request.headers.get("x-neura-api-key") == self.api_key or request.headers.get(
            "authorization"
        ) == (f"Bearer {self.api_key}")

    async def route(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        if request.method == "GET" and request.path == "/api/v1/health":
            if self.healthy:
                await send(response, 200, {"version": "1.0.0", "models": ["neura-video-v1"]})
            else:
                await send(
                    response,
                    503,
                    {"error": {"code": "overloaded", "message": "warming up"}},
                    {"retry-after": "5"},
                )
            return
        if not self.authorised(request):
            await send(response, 401, {"error": {"code": "auth", "message": "bad API key"}})
            return
        if request.method == "POST" and request.path == "/api/v1/video/generate":
            await self._submit(request, response)
            return
        if request.path.startswith("/api/v1/task/"):
            job = self.jobs.get(request.path.removeprefix("/api/v1/task/"))
            if job is None:
                await send(
                    response, 404, {"error": {"code": "not_found", "message": "no such task"}}
                )
            elif request.method == "GET":
                await send(response, 200, self.task(job, job.advance()))
            elif request.method == "DELETE":
                if job.current.get("status") == "completed":
                    await send(
                        response,
                        409,
                        {"error": {"code": "conflict", "message": "the task already completed"}},
                    )
                else:
                    job.override = job.current = {"status": "cancelled"}
                    await send(response, 202, {"status": "cancelled"})
            else:
                await send(response, 405, {"error": {"code": "bad_request", "message": "method"}})
            return
        await send(response, 404, {"error": {"code": "not_found", "message": "no such route"}})

    async def _submit(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        body = request.json()
        if not isinstance(body, dict) or not body.get("prompt"):
            await send(
                response, 400, {"error": {"code": "bad_request", "message": "prompt is required"}}
            )
            return
        key = str(body.get("idempotency_key") or "")
        with self._lock:
            known = self.jobs.get(self.by_key.get(key, "")) if key else None
        job = known or self.new_job(body)
        if known is None:
            job.current = {"status": "queued"}
            if key:
                with self._lock:
                    self.by_key[key] = job.id
        if self.seed_style:
            await send(response, 200, {"status": "processing", "task_id": job.id})
        else:
            await send(response, 202, {"task_id": job.id, "status": job.current.get("status")})

    def task(self, job: FakeJob, state: dict[str, Any]) -> dict[str, Any]:
        status = state.get("status")
        if self.seed_style:
            task: dict[str, Any] = {"status": status}
            if status == "completed":
                task["result_url"] = self.signed_url(f"{job.id}.mp4")
            task.update(state)
            return task
        task = {"task_id": job.id, "status": status}
        if status == "completed":
            task.update(
                result_url=self.signed_url(f"{job.id}.mp4"),
                thumbnail_url=self.signed_url(f"{job.id}.jpg"),
                duration=5.0,
                width=1280,
                height=720,
                fps=24,
                cost_usd=self.cost_usd,
                progress=1.0,
            )
        task.update(state)
        return task
