"""A slow loopback fake of the studio's custom video server (``NEURA_AI_SERVER``), for the video
benchmark (``manage.py bench_videos``).

It speaks the custom server's contract (../shared/PROTOCOLS-VIDEO.md §10, the README's "The custom
video server"): ``POST /api/v1/video/generate`` answers ``202 {"task_id", "status": "queued"}``
and the same task for a repeated ``idempotency_key``; ``GET /api/v1/task/{id}`` answers
``processing`` with a ``progress`` (0..1) until the task's time is up, then ``completed`` with a
``result_url``, the clip's facts and a ``cost_usd``; ``DELETE`` cancels (202; 409 once
completed); unknown tasks answer 404; ``GET /api/v1/health``. Every API request but the health check
needs ``X-Neura-API-Key`` when the fake has a key; the clip's URL needs none (as a signed URL).

A task stays ``processing`` for its own time, spread evenly (by the order of submits) between
``job_seconds_min`` and ``job_seconds_max``, counted from its first submit: its *finish* moment
is that, whether or not anyone polls. With ``hold`` set to N (``POST /_fake/config``), the
times of the first N tasks all start when the N-th arrives, so that N jobs wait at once however
long the studio takes to start them. The clip is one real MP4 of a moving pattern made with
PyAV when the fake starts, served for every task at ``/media/clip.mp4``.

What it counts (``GET /_fake/stats``): per task its idempotency key, how many submits named it,
its submit and finish moments, every poll's moment, the first poll that answered ``completed``
and the downloads of its clip; ``POST /_fake/config`` changes the times and ``POST
/_fake/reset`` forgets every task (between phases). It runs in its own process so that its CPU
is not counted against the studio: ``python -m generation.benchmarks.fake_neura
--job-seconds 30-60`` prints ``READY <base_url>`` and serves until killed; ``FakeNeuraProcess``
does that from Python.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from generation.benchmarks.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = 0.6180339887498949
CLIP_PATH = "/media/clip.mp4"
COST_USD = "0.10"


def moving_clip(seconds: float = 2.0, fps: int = 24, size: tuple[int, int] = (160, 96)) -> bytes:
    """A small real MP4 (H.264): a drifting gradient with a bright square sliding across it."""
    import av
    import numpy as np

    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    side = max(height // 3, 4)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("h264", rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(round(seconds * fps)):
            picture = np.empty((height, width, 3), np.uint8)
            picture[..., 0] = (xs * 2 + index * 6) % 256
            picture[..., 1] = (ys * 2 + index * 3) % 256
            picture[..., 2] = 90
            left = (index * 4) % max(width - side, 1)
            top = (height - side) // 2 + int((height // 4) * np.sin(index / 6))
            picture[top : top + side, left : left + side] = (250, 250, 250)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@dataclass
class Task:
    id: str
    key: str
    index: int
    submitted_at: float
    finish_at: float
    started_at: float
    """When its time started: its submit, or the moment the ``hold``-th task arrived."""
    submits: int = 1
    polls: list[float] = field(default_factory=list)
    completed_poll_at: float | None = None
    """The first poll that answered ``completed``."""
    downloads: int = 0
    cancelled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.id,
            "key": self.key,
            "submits": self.submits,
            "submitted_at": self.submitted_at,
            "finish_at": self.finish_at,
            "started_at": self.started_at,
            "polls": self.polls,
            "completed_poll_at": self.completed_poll_at,
            "downloads": self.downloads,
            "cancelled": self.cancelled,
        }


class State:
    def __init__(self, job_seconds_min: float, job_seconds_max: float, api_key: str) -> None:
        self.job_seconds_min = job_seconds_min
        self.job_seconds_max = job_seconds_max
        self.api_key = api_key
        self.tasks: dict[str, Task] = {}
        self.by_key: dict[str, str] = {}
        self.submits = 0
        self.unknown_polls = 0
        self.hold = 0
        self.lock = threading.Lock()
        self.clip = moving_clip()

    def seconds_for(self, index: int) -> float:
        spread = self.job_seconds_max - self.job_seconds_min
        return self.job_seconds_min + spread * ((index * GOLDEN) % 1.0)

    def configure(self, values: dict[str, Any]) -> None:
        with self.lock:
            if "job_seconds_min" in values:
                self.job_seconds_min = float(values["job_seconds_min"])
            if "job_seconds_max" in values:
                self.job_seconds_max = float(values["job_seconds_max"])
            if "hold" in values:
                self.hold = int(values["hold"])

    def reset(self) -> None:
        with self.lock:
            self.tasks.clear()
            self.by_key.clear()
            self.submits = 0
            self.unknown_polls = 0

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "submits": self.submits,
                "unknown_polls": self.unknown_polls,
                "clip_bytes": len(self.clip),
                "tasks": [task.as_dict() for task in self.tasks.values()],
            }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class Handler:
    def __init__(self, state: State, base_url: list[str]) -> None:
        self.state = state
        self.base_url = base_url

    def authorised(self, request: LoopbackRequest) -> bool:
        key = self.state.api_key
        return not key or request.headers.get("x-neura-api-key") == key

    async def __call__(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        state = self.state
        path = request.path
        if path == "/_fake/stats":
            await response.send_json(200, state.stats())
        elif path == "/_fake/config" and request.method == "POST":
            state.configure(request.json() or {})
            await response.send_json(200, {"ok": True})
        elif path == "/_fake/reset" and request.method == "POST":
            state.reset()
            await response.send_json(200, {"ok": True})
        elif path == "/api/v1/health":
            await response.send_json(200, {"version": "bench", "models": ["neura-video-v1"]})
        elif path == CLIP_PATH and request.method == "GET":
            await self.clip(request, response)
        elif not self.authorised(request):
            await response.send_json(401, _error("auth", "bad API key"))
        elif path == "/api/v1/video/generate" and request.method == "POST":
            await self.submit(request, response)
        elif path.startswith("/api/v1/task/"):
            await self.task(request, response, path.removeprefix("/api/v1/task/"))
        else:
            await response.send_json(404, _error("not_found", "no such route"))

    async def submit(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        body = request.json()
        if not isinstance(body, dict) or not body.get("prompt"):
            await response.send_json(400, _error("bad_request", "prompt is required"))
            return
        key = str(body.get("idempotency_key") or "")
        now = time.time()
        state = self.state
        with state.lock:
            state.submits += 1
            known = state.tasks.get(state.by_key.get(key, "")) if key else None
            if known is not None:
                known.submits += 1
                task = known
            else:
                index = len(state.tasks)
                held = index + 1 < state.hold
                task = Task(
                    id=uuid.uuid4().hex,
                    key=key,
                    index=index,
                    submitted_at=now,
                    finish_at=float("inf") if held else now + state.seconds_for(index),
                    started_at=float("inf") if held else now,
                )
                state.tasks[task.id] = task
                if key:
                    state.by_key[key] = task.id
                if index + 1 == state.hold:
                    for other in state.tasks.values():
                        other.started_at = now
                        other.finish_at = now + state.seconds_for(other.index)
        status = "completed" if now >= task.finish_at else "queued"
        await response.send_json(202, {"task_id": task.id, "status": status})

    async def task(
        self, request: LoopbackRequest, response: LoopbackResponse, task_id: str
    ) -> None:
        state = self.state
        now = time.time()
        with state.lock:
            task = state.tasks.get(task_id)
            if task is None:
                state.unknown_polls += 1
            elif request.method == "GET":
                task.polls.append(now)
                if now >= task.finish_at and not task.cancelled and task.completed_poll_at is None:
                    task.completed_poll_at = now
        if task is None:
            await response.send_json(404, _error("not_found", "no such task"))
            return
        if request.method == "DELETE":
            if now >= task.finish_at and not task.cancelled:
                await response.send_json(409, _error("conflict", "the task already completed"))
                return
            with state.lock:
                task.cancelled = True
            await response.send_json(202, {"status": "cancelled"})
            return
        if request.method != "GET":
            await response.send_json(405, _error("bad_request", "method not allowed"))
            return
        await response.send_json(200, self.answer(task, now))

    def answer(self, task: Task, now: float) -> dict[str, Any]:
        if task.cancelled:
            return {"task_id": task.id, "status": "cancelled"}
        if now < task.finish_at:
            total = max(task.finish_at - task.started_at, 1e-6)
            progress = max(0.0, min(0.99, round((now - task.started_at) / total, 2)))
            return {"task_id": task.id, "status": "processing", "progress": progress}
        return {
            "task_id": task.id,
            "status": "completed",
            "progress": 1.0,
            "result_url": f"{self.base_url[0]}{CLIP_PATH}?task={task.id}",
            "duration": 2.0,
            "width": 160,
            "height": 96,
            "fps": 24,
            "cost_usd": COST_USD,
        }

    async def clip(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        task_id = (request.query.get("task") or [""])[0]
        with self.state.lock:
            task = self.state.tasks.get(task_id)
            if task is not None:
                task.downloads += 1
        await response.start(200, {"content-type": "video/mp4"})
        await response.write(self.state.clip)
        await response.end()


def serve(job_seconds_min: float, job_seconds_max: float, api_key: str) -> LoopbackServer:
    """The fake in a background thread of this process (``main`` and tests of the fake)."""
    state = State(job_seconds_min, job_seconds_max, api_key)
    base_url: list[str] = []
    server = LoopbackServer(Handler(state, base_url))
    server.start()
    base_url.append(server.base_url)
    return server


class FakeNeuraProcess:
    """The fake in a child process; ``stats``, ``configure`` and ``reset`` talk to it over HTTP."""

    def __init__(
        self, job_seconds_min: float, job_seconds_max: float, *, api_key: str = "bench-neura"
    ) -> None:
        self.job_seconds_min = job_seconds_min
        self.job_seconds_max = job_seconds_max
        self.api_key = api_key
        self.base_url = ""
        self._child: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self._child is not None
        return self._child.pid

    def start(self) -> FakeNeuraProcess:
        args = [
            sys.executable,
            "-m",
            "generation.benchmarks.fake_neura",
            "--job-seconds",
            f"{self.job_seconds_min}-{self.job_seconds_max}",
            "--api-key",
            self.api_key,
        ]
        self._child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self._child.stdout is not None
        line = self._child.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the fake custom video server did not start: {line!r}")
        self.base_url = line.removeprefix("READY ")
        return self

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/_fake/stats", timeout=60)
        response.raise_for_status()
        return dict(response.json())

    def configure(self, **values: float) -> None:
        httpx.post(f"{self.base_url}/_fake/config", json=values, timeout=10).raise_for_status()

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_fake/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    def __enter__(self) -> FakeNeuraProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def parse_seconds(value: str) -> tuple[float, float]:
    """``"45"`` or ``"30-60"`` as (min, max) seconds."""
    low, _, high = value.partition("-")
    first = float(low)
    second = float(high) if high else first
    if first <= 0 or second < first:
        raise ValueError(f"not a time or a range of times in seconds: {value!r}")
    return first, second


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A slow loopback fake of the custom server.")
    parser.add_argument("--job-seconds", default="30-60", help="a task's time: 45 or 30-60")
    parser.add_argument("--api-key", default="bench-neura")
    options = parser.parse_args(argv)
    low, high = parse_seconds(options.job_seconds)
    server = serve(low, high, options.api_key)
    print(f"READY {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
