"""Where runs execute: launching a run, and each step of a step-mode run.

``launch(run_id, kind)`` (called after the run's transaction commits) starts a coroutine-mode
run with ``execute_run`` or a step-mode run's first step with ``execute_step``, either as an
asyncio task in this server process (``AURA_RUNNER=inline``) or on a Celery worker
(``AURA_RUNNER=celery``). ``schedule_step(run_id, step, delay)`` asks for a later step: a timer
of the loop inline (``call_later``), a task with a ``countdown`` on Celery; nothing holds a
thread or a process meanwhile.

Inline tasks run on the server's event loop (noted by ``note_loop`` at every async entry
point) or, in a process without one (a management command, a Celery worker), on a background
loop thread of the process; they are held (``executions.hold``) until they end. A loop that
executes runs gets its maintenance (heartbeat, reaper, control channel) through the hooks
registered with ``on_loop``; the process's thread switch interval is shortened then (see
``conf.switch_interval_seconds``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.conf import settings

from generation.runs import conf, executions, load
from generation.runs.execute import execute_run
from generation.runs.kinds import spec_for
from generation.runs.stepping import execute_step

_server_loop: asyncio.AbstractEventLoop | None = None
_background: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()
_noted: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_loop_hooks: list[Callable[[], None]] = []


def on_loop(hook: Callable[[], None]) -> None:
    """Call ``hook`` (on the loop, with it running) once for every loop that executes runs."""
    if hook not in _loop_hooks:
        _loop_hooks.append(hook)


def use_loop() -> None:
    """Start the per-loop machinery of the running loop: the load probe and the hooks."""
    loop = asyncio.get_running_loop()
    if loop in _noted:
        return
    _noted.add(loop)
    _shorten_switch_interval()
    load.ensure_probe(loop)
    for hook in _loop_hooks:
        hook()


def _shorten_switch_interval() -> None:
    """Hand the GIL over sooner (``conf.switch_interval_seconds``): the runs' database thread
    and the loop's thread take turns at it all the time."""
    seconds = conf.switch_interval_seconds()
    if 0 < seconds < sys.getswitchinterval():
        sys.setswitchinterval(seconds)


def note_loop() -> None:
    """Remember the running loop as the server's loop (inline runs execute there)."""
    global _server_loop
    loop = asyncio.get_running_loop()
    if loop is not _background and (
        _server_loop is None or _server_loop.is_closed() or not _server_loop.is_running()
    ):
        _server_loop = loop
    use_loop()


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
                loop.call_soon(use_loop, context=contextvars.Context())
                loop.run_forever()

            threading.Thread(target=serve, name="runs-loop", daemon=True).start()
            ready.wait()
            _background = loop
        return _background


def _loop() -> asyncio.AbstractEventLoop:
    return _live_server_loop() or background_loop()


_runs_sync_context = ThreadSensitiveContext()


def run_context() -> contextvars.Context:
    """A fresh context for a run's task, whose thread-sensitive ``sync_to_async`` calls go to
    the runs' own thread: never to a request's thread (a request that ends, or that waits for
    the run, must not hold the run up)."""
    context = contextvars.Context()
    context.run(SyncToAsync.thread_sensitive_context.set, _runs_sync_context)
    return context


def _spawn(run_id: UUID | str, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    use_loop()
    task = asyncio.get_running_loop().create_task(coroutine, name=name, context=run_context())
    executions.hold(run_id, task)
    return task


def spawn(run_id: UUID | str) -> asyncio.Task[Any]:
    """Start ``execute_run`` as a task of the running loop, held until it ends."""
    return _spawn(run_id, run_then_wake(run_id), f"run-{run_id}")


async def run_then_wake(run_id: UUID | str, resume_step: int | None = None) -> None:
    """Execute (or continue) a coroutine-mode run; if it paused, schedule its wake-up."""
    wake = await execute_run(run_id, resume_step)
    if wake is not None:
        schedule_step(run_id, *wake)


def spawn_step(run_id: UUID | str, step: int) -> asyncio.Task[Any]:
    """Start step ``step`` of a step-mode run as a task of the running loop."""
    return _spawn(run_id, step_then_next(run_id, step), f"run-{run_id}-step-{step}")


def _paused_coroutine(run_id: UUID | str) -> bool:
    from generation.runs.models import Run

    kind = Run.objects.filter(pk=run_id).values_list("kind", flat=True).first()
    try:
        return bool(kind) and spec_for(str(kind)).mode == "coroutine"
    except LookupError:
        return False


async def step_then_next(run_id: UUID | str, step: int) -> None:
    """Execute one step, then schedule the next one it asks for; for a paused coroutine-mode
    run, its wake-up: the handler continues (``execute_run(..., resume_step=step)``)."""
    from generation.runs.events import writer_for_loop

    if await writer_for_loop().run_sync(_paused_coroutine, run_id):
        await run_then_wake(run_id, step)
        return
    following = await execute_step(run_id, step)
    if following is not None:
        schedule_step(run_id, *following)


EXECUTE_RUN_TASK = "runs.execute_run"
EXECUTE_STEP_TASK = "runs.execute_step"


def _celery() -> bool:
    return bool(settings.AURA_RUNNER == "celery")


def _send_task(name: str, args: list[Any], countdown: float | None) -> None:
    """Send one of the runs' Celery tasks (``generation.runs.tasks``) by name."""
    from celery import current_app

    current_app.send_task(
        name, args=args, countdown=countdown, queue=settings.CELERY_TASK_DEFAULT_QUEUE
    )


def launch(run_id: UUID, kind: str) -> None:
    """Start a run created just now (its first step, in step mode)."""
    if spec_for(kind).mode == "steps":
        schedule_step(run_id, 0, 0.0)
        return
    if _celery():
        _send_task(EXECUTE_RUN_TASK, [str(run_id)], None)
        return
    _loop().call_soon_threadsafe(spawn, run_id, context=contextvars.Context())


def schedule_step(run_id: UUID | str, step: int, delay: float) -> None:
    """Ask for step ``step`` of a run in ``delay`` seconds (0: now)."""
    delay = max(0.0, delay)
    if _celery():
        _send_task(EXECUTE_STEP_TASK, [str(run_id), step], delay or None)
        return
    loop = _loop()

    def fire() -> None:
        _timers.discard(handle_of[0])
        spawn_step(run_id, step)

    handle_of: list[asyncio.TimerHandle] = []

    def arm() -> None:
        if delay:
            handle = loop.call_later(delay, fire, context=contextvars.Context())
            handle_of.append(handle)
            _timers.add(handle)
        else:
            spawn_step(run_id, step)

    loop.call_soon_threadsafe(arm, context=contextvars.Context())


_timers: set[asyncio.TimerHandle] = set()
"""Steps this process has asked its loop for later, not yet started."""


def steps_forget() -> int:
    """Cancel the later steps this process has scheduled and not yet started (a loop being
    shut down; each run's step stays due in the database, for the reaper to relaunch)."""
    count = 0
    for handle in list(_timers):
        handle.cancel()
        count += 1
    _timers.clear()
    return count


def execute_in_background(
    run_id: UUID | str, coroutine_factory: Callable[[], Coroutine[Any, Any, Any]]
) -> None:
    """Execute a run's coroutine (or one step) on the background loop and wait until it ends
    (a Celery task's thread)."""
    ended: concurrent.futures.Future[None] = concurrent.futures.Future()

    def start() -> None:
        task = _spawn(run_id, coroutine_factory(), f"run-{run_id}")

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
