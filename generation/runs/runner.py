"""Where runs execute, and the per-process machinery around them.

``launch(run_id)`` (called after the run's transaction commits) starts ``execute_run`` either as
an asyncio task in this server process (``AURA_RUNNER=inline``) or on a Celery worker
(``AURA_RUNNER=celery``). Inline tasks run on the server's event loop (noted by ``note_loop`` at
every async entry point) or, in a process without one (a management command, a Celery worker),
on a background loop thread of the process; they are kept referenced until they end.

Each loop that executes runs also keeps them alive and honest (``ensure_maintenance``): a
heartbeat every few seconds for the runs it executes (and a look at their ``cancel_requested``
flags), the reaper of runs whose process died, and, with a shared channel layer, a listener of
cancel requests sent from other processes to ``run.<id>.control``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import os
import socket
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.utils import timezone

from generation.runs import conf
from generation.runs.models import RunStatus, control_group_name

logger = logging.getLogger(__name__)

CONTROL_MESSAGE_TYPE = "run.control"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class Execution:
    """A run being executed by this process."""

    run_id: UUID
    task: asyncio.Task[Any]
    loop: asyncio.AbstractEventLoop
    cancel_requested: bool = False
    finishing: bool = False
    lost: bool = False
    control: set[str] = field(default_factory=set)

    def request_cancel(self) -> bool:
        """Cancel the executing task (closing the upstream response); harmless twice."""
        if self.finishing or self.cancel_requested:
            return False
        self.cancel_requested = True
        self.loop.call_soon_threadsafe(self.task.cancel)
        return True

    def abandon(self) -> None:
        """Stop without a terminal event: the run was ended elsewhere (reaped)."""
        if self.finishing or self.lost:
            return
        self.lost = True
        self.loop.call_soon_threadsafe(self.task.cancel)


_executions: dict[UUID, Execution] = {}
_spawned: set[asyncio.Task[Any]] = set()
_server_loop: asyncio.AbstractEventLoop | None = None
_background: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()
_maintained: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def executions() -> dict[UUID, Execution]:
    return _executions


def local_execution(run_id: object) -> Execution | None:
    try:
        key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
    except ValueError:
        return None
    return _executions.get(key)


def spawned_runs() -> list[asyncio.Task[Any]]:
    """The inline run tasks of this process that have not ended."""
    return list(_spawned)


def local_load() -> int:
    """Runs this process executes or is about to (for AURA_MAX_CONCURRENT_STREAMS)."""
    return max(len(_spawned), len(_executions))


def note_loop() -> None:
    """Remember the running loop as the server's loop and keep its maintenance going."""
    global _server_loop
    loop = asyncio.get_running_loop()
    if loop is not _background and (
        _server_loop is None or _server_loop.is_closed() or not _server_loop.is_running()
    ):
        _server_loop = loop
    ensure_maintenance()


def _live_server_loop() -> asyncio.AbstractEventLoop | None:
    loop = _server_loop
    if loop is not None and loop.is_running() and not loop.is_closed():
        return loop
    return None


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's own loop thread, for processes without a server loop (workers, commands)."""
    global _background
    with _background_lock:
        if _background is None or _background.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.call_soon(ensure_maintenance)
                loop.run_forever()

            threading.Thread(target=serve, name="runs-loop", daemon=True).start()
            ready.wait()
            _background = loop
        return _background


def execute_in_background(run_id: UUID | str) -> None:
    """Execute a run on the background loop and wait until it ends (a Celery task's thread)."""
    ended: concurrent.futures.Future[None] = concurrent.futures.Future()

    def start() -> None:
        task = spawn(run_id)

        def finished(task: asyncio.Task[Any]) -> None:
            if task.cancelled():
                ended.set_exception(concurrent.futures.CancelledError())
            elif task.exception() is not None:
                ended.set_exception(task.exception())
            else:
                ended.set_result(None)

        task.add_done_callback(finished)

    background_loop().call_soon_threadsafe(start, context=contextvars.Context())
    ended.result()


def launch(run_id: UUID) -> None:
    if settings.AURA_RUNNER == "celery":
        from generation.runs.tasks import execute_run_task

        execute_run_task.apply_async(args=[str(run_id)], queue=settings.CELERY_TASK_DEFAULT_QUEUE)
        return
    loop = _live_server_loop() or background_loop()
    loop.call_soon_threadsafe(spawn, run_id, context=contextvars.Context())


def spawn(run_id: UUID | str) -> asyncio.Task[Any]:
    """Start ``execute_run`` as a task of the running loop, referenced until it ends. The task
    gets a context of its own: it must not inherit the request's (which ends long before)."""
    from generation.runs.execute import execute_run

    task = asyncio.get_running_loop().create_task(
        execute_run(run_id), name=f"run-{run_id}", context=run_context()
    )
    _spawned.add(task)
    task.add_done_callback(_spawned.discard)
    return task


_runs_sync_context = ThreadSensitiveContext()


def run_context() -> contextvars.Context:
    """A fresh context for a run's task, whose thread-sensitive ``sync_to_async`` calls go to
    the runs' own thread: never to a request's thread (a request that ends, or that waits for
    the run, must not hold the run up)."""
    context = contextvars.Context()
    context.run(SyncToAsync.thread_sensitive_context.set, _runs_sync_context)
    return context


def slots() -> asyncio.Semaphore:
    """At most AURA_MAX_CONCURRENT_STREAMS runs execute at once on this loop."""
    loop = asyncio.get_running_loop()
    semaphore = _slots.get(loop)
    if semaphore is None:
        semaphore = asyncio.Semaphore(settings.AURA_MAX_CONCURRENT_STREAMS)
        _slots[loop] = semaphore
    return semaphore


def register(execution: Execution) -> None:
    _executions[execution.run_id] = execution


def unregister(execution: Execution) -> None:
    if _executions.get(execution.run_id) is execution:
        del _executions[execution.run_id]


# ---- load ----------------------------------------------------------------------------------

CHUNK_INTERVAL_SECONDS = 0.05
MAX_CHUNK_INTERVAL_SECONDS = 0.25
_LAG_PROBE_SECONDS = 0.02


class LoopLoad:
    """How late this loop runs ready callbacks (an average of recent probes)."""

    def __init__(self) -> None:
        self.lag = 0.0

    async def probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + _LAG_PROBE_SECONDS
            await asyncio.sleep(_LAG_PROBE_SECONDS)
            late = max(0.0, loop.time() - expected)
            self.lag = 0.8 * self.lag + 0.2 * late


_loads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLoad] = weakref.WeakKeyDictionary()


def chunk_interval() -> float:
    """How often a run cuts its text into a ``chunk`` event: about every 50 ms, longer (up to
    250 ms) while the loop runs late, so that a loaded process sends fewer, larger batches
    instead of falling behind."""
    load = _loads.get(asyncio.get_running_loop())
    if load is None:
        return CHUNK_INTERVAL_SECONDS
    return min(MAX_CHUNK_INTERVAL_SECONDS, CHUNK_INTERVAL_SECONDS + 4 * load.lag)


# ---- maintenance ---------------------------------------------------------------------------


def ensure_maintenance() -> None:
    loop = asyncio.get_running_loop()
    if loop in _maintained:
        return
    _maintained.add(loop)
    _controls.setdefault(loop, _Control())
    load = _loads.setdefault(loop, LoopLoad())
    prober = loop.create_task(load.probe(), name="runs-load", context=contextvars.Context())
    _spawned_maintenance.add(prober)
    prober.add_done_callback(_spawned_maintenance.discard)
    task = loop.create_task(_maintain(), name="runs-maintenance", context=contextvars.Context())
    _spawned_maintenance.add(task)
    task.add_done_callback(_spawned_maintenance.discard)


_spawned_maintenance: set[asyncio.Task[Any]] = set()


class _Control:
    """This loop's channel for cancel requests from other processes."""

    def __init__(self) -> None:
        self.channel = ""
        self.ready = asyncio.Event()


_controls: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Control] = (
    weakref.WeakKeyDictionary()
)


def shared_layer() -> Any | None:
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


async def control_subscribe(run_id: UUID) -> None:
    layer = shared_layer()
    control = _controls.get(asyncio.get_running_loop())
    if layer is None or control is None:
        return
    if not control.ready.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(control.ready.wait(), timeout=2)
    if control.channel:
        await layer.group_add(control_group_name(run_id), control.channel)


async def control_unsubscribe(run_id: UUID) -> None:
    layer = shared_layer()
    control = _controls.get(asyncio.get_running_loop())
    if layer is None or control is None or not control.channel:
        return
    try:
        await layer.group_discard(control_group_name(run_id), control.channel)
    except Exception:
        logger.warning("leaving the control group of run %s failed", run_id, exc_info=True)


async def send_control(run_id: object, action: str) -> None:
    layer = shared_layer()
    if layer is not None:
        await layer.group_send(
            control_group_name(run_id),
            {"type": CONTROL_MESSAGE_TYPE, "run_id": str(run_id), "action": action},
        )


async def _listen_control(control: _Control) -> None:
    layer = shared_layer()
    if layer is None:
        return
    control.channel = await layer.new_channel("runs-control")
    control.ready.set()
    while True:
        try:
            message = await layer.receive(control.channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("receiving run control messages failed", exc_info=True)
            await asyncio.sleep(1)
            continue
        if message.get("type") != CONTROL_MESSAGE_TYPE:
            continue
        execution = local_execution(message.get("run_id"))
        if execution is not None and message.get("action") == "cancel":
            execution.request_cancel()


async def _maintain() -> None:
    from generation.runs.events import writer_for_loop
    from generation.runs.services import reap_stale_runs

    loop = asyncio.get_running_loop()
    control = _controls.setdefault(loop, _Control())
    listener = loop.create_task(_listen_control(control), name="runs-control")
    writer = writer_for_loop()
    heartbeat = conf.heartbeat_seconds()
    next_reap = 0.0
    try:
        while True:
            mine = [e for e in list(_executions.values()) if e.loop is loop]
            if mine:
                try:
                    cancelled, gone = await writer.run_sync(
                        _heartbeat, [e.run_id for e in mine], worker_id()
                    )
                except Exception:
                    logger.warning("the run heartbeat failed", exc_info=True)
                else:
                    for execution in mine:
                        if execution.run_id in cancelled:
                            execution.request_cancel()
                        elif execution.run_id in gone:
                            execution.abandon()
            if loop.time() >= next_reap:
                next_reap = loop.time() + conf.reap_interval_seconds()
                try:
                    await reap_stale_runs(writer)
                except Exception:
                    logger.warning("reaping stale runs failed", exc_info=True)
            await asyncio.sleep(heartbeat)
    finally:
        listener.cancel()


def _heartbeat(run_ids: list[UUID], worker: str) -> tuple[set[UUID], set[UUID]]:
    from generation.runs.models import Run

    now = timezone.now()
    Run.objects.filter(pk__in=run_ids, status=RunStatus.RUNNING).update(
        heartbeat_at=now, worker_id=worker
    )
    rows = Run.objects.filter(pk__in=run_ids).values_list("pk", "status", "cancel_requested")
    cancelled = {pk for pk, status, flag in rows if flag and status == RunStatus.RUNNING}
    running = {pk for pk, status, _ in rows if status == RunStatus.RUNNING}
    gone = set(run_ids) - running
    return cancelled, gone
