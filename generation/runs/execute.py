"""``execute_run(run_id)``: one coroutine that carries a coroutine-mode run from queued to its
terminal event.

It claims the run (queued -> running, so two launchers never both execute it), calls its kind's
handler with a ``RunContext`` under the kind's time limit (default
``AURA_STREAM_TIMEOUT_SECONDS``) and ends the run with exactly one of ``done``, ``cancelled`` or
``error``, keeping every part's text and the cost of the tokens generated, parts still active
ending with the run. A cancel cancels this task: every part's provider response is closed by
the cancellation. A run ended elsewhere while it executes (the reaper thought its process
dead) is abandoned without a second terminal event.

A handler may pause its run (``raise ctx.pause(until, state)``): the parts are stored, the run
keeps its status with ``wake_at`` (when it continues) and ``state``, its ``step`` counts the
stretch, and the task ends. The wake-up goes through the step scheduler (a timer inline, a
Celery countdown, the reaper for one lost with its process); ``execute_run(run_id,
resume_step=n)`` then claims the paused run (its ``step`` still ``n``, ``wake_at`` still set)
and calls the handler again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from aura_site.money import plain
from generation.providers.base import ProviderError
from generation.runs import control, executions, fragments
from generation.runs.context import RunContext
from generation.runs.errors import PartTimedOut, RunFailed, RunPaused
from generation.runs.events import (
    EventWriter,
    Final,
    RunLog,
    RunLost,
    jsonable,
    part_save,
    writer_for_loop,
)
from generation.runs.kinds import DoneInfo, KindSpec, UnknownRunKind, spec_for
from generation.runs.models import ACTIVE_STATUSES, PartStatus, Run, RunPart, RunStatus

logger = logging.getLogger(__name__)


def _claim(
    run_id: UUID, worker: str, resume_step: int | None = None
) -> tuple[Run, list[RunPart], int] | None:
    now = timezone.now()
    if resume_step is None:
        claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker_id=worker
        )
    else:
        claimed = Run.objects.filter(
            pk=run_id, status__in=ACTIVE_STATUSES, step=resume_step, wake_at__isnull=False
        ).update(wake_at=None, heartbeat_at=now, worker_id=worker)
    if not claimed:
        return None
    run = Run.objects.select_related("project").annotate(last_seq=Max("events__seq")).get(pk=run_id)
    parts = list(RunPart.objects.filter(run_id=run_id))
    return run, parts, run.last_seq or 0


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _slots_of_loop() -> asyncio.Semaphore:
    """At most AURA_MAX_CONCURRENT_STREAMS runs execute at once on this loop."""
    loop = asyncio.get_running_loop()
    semaphore = _slots.get(loop)
    if semaphore is None:
        semaphore = asyncio.Semaphore(settings.AURA_MAX_CONCURRENT_STREAMS)
        _slots[loop] = semaphore
    return semaphore


async def execute_run(
    run_id: UUID | str, resume_step: int | None = None
) -> tuple[int, float] | None:
    """Execute a queued run, or (``resume_step``) continue a paused one. When it paused: the
    step to wake it at and the delay, for the launcher to schedule."""
    run_uuid = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
    writer = writer_for_loop()
    async with _slots_of_loop():
        claimed = await writer.run_sync(_claim, run_uuid, executions.worker_id(), resume_step)
        if claimed is None:
            return None
        run, parts, last_seq = claimed
        task = asyncio.current_task()
        assert task is not None
        execution = executions.Execution(run.pk, task, asyncio.get_running_loop())
        executions.register(execution)
        await control.subscribe(run.pk)
        try:
            return await _execute(run, parts, last_seq, execution, writer)
        finally:
            executions.unregister(execution)
            await control.unsubscribe(run.pk)


async def _execute(
    run: Run,
    parts: list[RunPart],
    last_seq: int,
    execution: executions.Execution,
    writer: EventWriter,
) -> tuple[int, float] | None:
    spec: KindSpec | None
    unknown = ""
    try:
        spec = spec_for(run.kind)
    except UnknownRunKind as exc:
        spec = None
        unknown = str(exc)
    log = RunLog(run.pk, last_seq, writer, render=lambda event, data, part: "")
    if spec is None or spec.handler is None:
        fallback = KindSpec(name=run.kind, label=run.kind, handler=_no_handler)
        ctx = RunContext(run, log, fallback, parts)
        message = unknown if spec is None else f"Runs of kind {run.kind!r} execute in steps."
        await _end(ctx, execution, "error", code="unknown_kind", message=message)
        return None
    ctx = RunContext(run, log, spec, parts)
    log.render = lambda event, data, part: fragments.render_live_event(ctx, event, data, part)
    if run.cancel_requested:
        execution.cancel_requested = True
        await _end(ctx, execution, "cancelled")
        return None
    seconds = spec.run_timeout(settings.AURA_STREAM_TIMEOUT_SECONDS)
    try:
        async with asyncio.timeout(seconds):
            extra = await spec.handler(ctx)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        if execution.lost or not execution.cancel_requested:
            if not execution.lost:
                raise
            return None
        await _end(ctx, execution, "cancelled")
        return None
    except RunLost:
        return None
    except RunPaused as paused:
        return await _pause(ctx, execution, writer, paused)
    except TimeoutError:
        await _end(
            ctx,
            execution,
            "error",
            code="timeout",
            message=f"The run took longer than {seconds:g} seconds and was stopped.",
        )
        return None
    except PartTimedOut as exc:
        await _end(ctx, execution, "error", code=exc.code, message=exc.message)
        return None
    except ProviderError as exc:
        await _end(ctx, execution, "error", code=exc.kind.value, message=str(exc))
        return None
    except RunFailed as exc:
        await _end(ctx, execution, "error", code=exc.code, message=exc.message)
        return None
    except Exception:
        logger.exception("run %s failed", run.pk)
        await _end(
            ctx, execution, "error", code="internal_error", message="The run failed unexpectedly."
        )
        return None
    await _end(ctx, execution, "done", extra=extra)
    return None


def _store_pause(
    run_id: UUID, step: int, paused: RunPaused, checkpoint_run: dict[str, Any], parts: dict
) -> bool:
    with transaction.atomic():
        updated = Run.objects.filter(
            pk=run_id, status__in=ACTIVE_STATUSES, step=step, wake_at__isnull=True
        ).update(
            **checkpoint_run,
            wake_at=paused.until,
            step=step + 1,
            state=jsonable(paused.state),
            worker_id="",
            heartbeat_at=timezone.now(),
        )
        if not updated:
            return False
        for key, fields in parts.items():
            part_save(run_id, key, fields)
    return True


def _after_pause(run_id: UUID, spec: KindSpec) -> None:
    if spec.on_pause is None:
        return
    run = Run.objects.select_related("project").get(pk=run_id)
    try:
        spec.on_pause(run)
    except Exception:
        logger.exception("the %s kind's on_pause failed for run %s", run.kind, run_id)


async def _pause(
    ctx: RunContext, execution: executions.Execution, writer: EventWriter, paused: RunPaused
) -> tuple[int, float] | None:
    """Store the pause after every event of this stretch; the wake-up to schedule."""
    execution.finishing = True
    checkpoint = ctx.suspend()
    step = ctx.run.step
    stored = await writer.run_sync(
        _store_pause, ctx.run.pk, step, paused, checkpoint.run, checkpoint.parts
    )
    if not stored:
        return None
    await writer.run_sync(_after_pause, ctx.run.pk, ctx.spec)
    return step + 1, max(0.0, (paused.until - timezone.now()).total_seconds())


async def _no_handler(ctx: RunContext) -> dict[str, Any]:
    return {}


_PART_ENDINGS = {
    "done": PartStatus.SUCCEEDED,
    "cancelled": PartStatus.CANCELLED,
    "error": PartStatus.FAILED,
}


async def _end(
    ctx: RunContext,
    execution: executions.Execution,
    event: str,
    *,
    code: str = "",
    message: str = "",
    extra: dict[str, Any] | None = None,
) -> None:
    execution.finishing = True
    ctx.flush()
    run = ctx.run
    spec: KindSpec = ctx.spec
    now = timezone.now()
    part_status = PartStatus.TIMED_OUT if code == "timeout" else _PART_ENDINGS[event]
    parts = ctx.final_parts(part_status, code, message)
    fields = ctx.run_columns()
    text = fields["text"]
    usage = {
        "input_tokens": fields["input_tokens"],
        "output_tokens": fields["output_tokens"],
        "reported": fields["usage_reported"],
    }
    cost = plain(fields["cost"])
    fields.update(finished_at=now, heartbeat_at=now, error_code=code, error_message=message)
    started = run.started_at or now
    first = fields["first_token_at"]
    duration_ms = int((now - started).total_seconds() * 1000)
    ttft_ms = int((first - started).total_seconds() * 1000) if first else None
    streaming_seconds = (now - first).total_seconds() if first else 0.0
    tps = round(fields["output_tokens"] / streaming_seconds, 2) if streaming_seconds > 0 else 0.0
    data: dict[str, Any]
    if event == "done":
        status = RunStatus.SUCCEEDED
        result = jsonable(dict(extra or {}))
        fields.update(status=status, result=result)
        data = spec.done_fields(
            DoneInfo(
                run_id=str(run.pk),
                text=text,
                provider=fields["provider"],
                model=fields["model"],
                usage=usage,
                cost=cost,
                ttft_ms=ttft_ms,
                tokens_per_second=tps,
                duration_ms=duration_ms,
                part_costs={key: plain(columns["cost"]) for key, columns in parts.items()},
                extra=result,
            )
        )
    elif event == "cancelled":
        status = RunStatus.CANCELLED
        fields.update(status=status, cancel_requested=True)
        data = {"run_id": str(run.pk), "text": text, "usage": usage, "cost": cost}
    else:
        status = RunStatus.FAILED
        fields.update(status=status)
        data = {
            "code": code,
            "message": message,
            "correlation_id": run.correlation_id,
            "text": text,
        }
    try:
        await ctx.close(event, data, Final(run=fields, parts=parts, kind=run.kind, status=status))
    except RunLost:
        return
