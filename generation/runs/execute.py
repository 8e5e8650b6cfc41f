"""``execute_run(run_id)``: one coroutine that carries a run from queued to its terminal event.

It claims the run (queued -> running, so two launchers never both execute it), calls the
handler registered for the run's kind with a ``RunContext`` under ``AURA_STREAM_TIMEOUT_SECONDS``
and ends the run with exactly one of ``done``, ``cancelled`` or ``error``, keeping the text
produced so far and the cost of the tokens generated. A cancel cancels this task: the provider's
HTTP response is closed by the cancellation. A run ended elsewhere while it executes (the reaper
thought its process dead) is abandoned without a second terminal event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

from django.db.models import Max
from django.utils import timezone

from generation.providers.base import ProviderError
from generation.runs import fragments, runner
from generation.runs.context import RunContext, RunFailed
from generation.runs.events import RunLog, RunLost, writer_for_loop
from generation.runs.kinds import UnknownRunKind, handler_for
from generation.runs.models import Run, RunStatus

logger = logging.getLogger(__name__)


def _claim(run_id: UUID, worker: str) -> tuple[Run, int] | None:
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker_id=worker
    )
    if not claimed:
        return None
    run = Run.objects.select_related("project").annotate(last_seq=Max("events__seq")).get(pk=run_id)
    return run, run.last_seq or 0


async def execute_run(run_id: UUID | str) -> None:
    run_uuid = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
    runner.ensure_maintenance()
    writer = writer_for_loop()
    async with runner.slots():
        claimed = await writer.run_sync(_claim, run_uuid, runner.worker_id())
        if claimed is None:
            return
        run, last_seq = claimed
        task = asyncio.current_task()
        assert task is not None
        execution = runner.Execution(run.pk, task, asyncio.get_running_loop())
        runner.register(execution)
        await runner.control_subscribe(run.pk)
        try:
            await _execute(run, last_seq, execution, writer)
        finally:
            runner.unregister(execution)
            await runner.control_unsubscribe(run.pk)


async def _execute(run: Run, last_seq: int, execution: runner.Execution, writer: Any) -> None:
    from django.conf import settings

    log = RunLog(run.pk, last_seq, writer, render=lambda event, data: "")
    ctx = RunContext(run, log)
    dom_id = run.dom_id
    log.render = lambda event, data: fragments.render_event(
        run, ctx.metrics_for(event), event, data, dom_id
    )
    if run.cancel_requested:
        execution.cancel_requested = True
        await _end(ctx, execution, "cancelled")
        return
    try:
        handler = handler_for(run.kind)
        async with asyncio.timeout(settings.AURA_STREAM_TIMEOUT_SECONDS):
            extra = await handler(ctx)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        if execution.lost or not execution.cancel_requested:
            if not execution.lost:
                raise
            return
        await _end(ctx, execution, "cancelled")
        return
    except RunLost:
        return
    except TimeoutError:
        seconds = settings.AURA_STREAM_TIMEOUT_SECONDS
        await _end(
            ctx,
            execution,
            "error",
            code="timeout",
            message=f"The run took longer than {seconds:g} seconds and was stopped.",
        )
        return
    except ProviderError as exc:
        await _end(ctx, execution, "error", code=exc.kind.value, message=str(exc))
        return
    except RunFailed as exc:
        await _end(ctx, execution, "error", code=exc.code, message=exc.message)
        return
    except UnknownRunKind as exc:
        await _end(ctx, execution, "error", code="unknown_kind", message=str(exc))
        return
    except Exception:
        logger.exception("run %s failed", run.pk)
        await _end(
            ctx, execution, "error", code="internal_error", message="The run failed unexpectedly."
        )
        return
    await _end(ctx, execution, "done", extra=extra)


async def _end(
    ctx: RunContext,
    execution: runner.Execution,
    event: str,
    *,
    code: str = "",
    message: str = "",
    extra: dict[str, Any] | None = None,
) -> None:
    execution.finishing = True
    ctx.flush()
    run = ctx.run
    now = timezone.now()
    fields = ctx.state_fields()
    text = fields["text"]
    usage = {
        "input_tokens": fields["input_tokens"],
        "output_tokens": fields["output_tokens"],
        "reported": fields["usage_reported"],
    }
    cost = str(fields["cost"])
    fields.update(finished_at=now, heartbeat_at=now, error_code=code, error_message=message)
    started = run.started_at or now
    first = fields["first_token_at"]
    duration_ms = int((now - started).total_seconds() * 1000)
    ttft_ms = int((first - started).total_seconds() * 1000) if first else None
    streaming_seconds = (now - first).total_seconds() if first else 0.0
    tps = round(fields["output_tokens"] / streaming_seconds, 2) if streaming_seconds > 0 else 0.0
    data: dict[str, Any]
    if event == "done":
        extra = dict(extra or {})
        fields.update(status=RunStatus.SUCCEEDED, result=_jsonable(extra))
        data = {
            "run_id": str(run.pk),
            "script_id": extra.pop("script_id", None),
            "text": text,
            "provider": fields["provider"],
            "model": fields["model"],
            "usage": usage,
            "cost": cost,
            "ttft_ms": ttft_ms,
            "tokens_per_second": tps,
            "duration_ms": duration_ms,
            "validation": extra.pop("validation", None),
        }
        data.update(_jsonable(extra))
    elif event == "cancelled":
        fields.update(status=RunStatus.CANCELLED, cancel_requested=True)
        data = {"run_id": str(run.pk), "text": text, "usage": usage, "cost": cost}
    else:
        fields.update(status=RunStatus.FAILED)
        data = {
            "code": code,
            "message": message,
            "correlation_id": run.correlation_id,
            "text": text,
        }
    try:
        await ctx.close(event, data, fields)
    except RunLost:
        return


def _jsonable(value: Any) -> Any:
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
