"""Step mode: a run as a series of short steps, for work that waits on someone else.

A step kind's ``step(ctx)`` does a little (submit a job, poll it once, fetch a result) and
returns ``Again(seconds)`` or ``Done(fields)``; raising ``RunFailed`` or ``ProviderError`` ends
the run with an ``error``. Between steps no process holds the run: the next step is a timer of
the loop inline, a Celery task with a ``countdown`` otherwise.

``execute_step(run_id, step)`` claims the run atomically for that step (the run's ``step``
counter must still be ``step`` and its lease free), so a redelivered message or a second
worker finds nothing to do. What the step changed (the kind's ``state``, its parts, their
``operation`` such as an external job's id, its events, the cost records it charged) is stored
in one transaction with the step counter and the release of the lease: a step that was stored
is never run again, so a side effect stored with it is never repeated. The lease is short
(``AURA_RUN_STEP_LEASE_SECONDS``) and renewed by the executing process's heartbeat, so a step
whose process died is taken over within that time. A step whose lease was lost (its process
stopped renewing it and another took over) stores nothing.

A cancel asked while the run waits wakes it at once: the next step finds ``cancel_requested``,
calls the kind's ``cancel(ctx)`` (an external job's own cancel), and ends the run
``cancelled``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from aura_site.money import plain
from generation.costs.services import cost_record_create
from generation.providers.base import ProviderError
from generation.runs import conf, executions
from generation.runs.errors import RunFailed
from generation.runs.events import (
    LogItem,
    jsonable,
    part_save,
    publish_many,
    run_ended,
    writer_for_loop,
)
from generation.runs.kinds import DoneInfo, KindSpec, UnknownRunKind, spec_for
from generation.runs.models import (
    ACTIVE_PART_STATUSES,
    ACTIVE_STATUSES,
    PartStatus,
    Run,
    RunEvent,
    RunPart,
    RunStatus,
)

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
"""A step that failed for a reason of ours (a database hiccup, a step over its time limit) is
tried again this much later."""


@dataclass(frozen=True, slots=True)
class Again:
    """Run the next step in ``seconds``."""

    seconds: float
    status: str = ""
    """The run's status meanwhile (``submitted`` once an external job exists); unchanged if
    empty."""


@dataclass(frozen=True, slots=True)
class Done:
    """The run succeeded; ``fields`` are the extra fields of its ``done`` event."""

    fields: dict[str, Any] = field(default_factory=dict)


StepResult = Again | Done


@dataclass(slots=True)
class _Charge:
    provider: str
    model: str
    part: str
    cost: Decimal
    outcome: str
    attempt: int
    unit: str
    quantity: Decimal | None
    error_kind: str
    reported: bool = True


class StepPart:
    """A part as a step sees it; changes are stored with the step."""

    def __init__(self, row: RunPart) -> None:
        self.row = row
        self.changed = row.pk is None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)

    def set(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self.row, name, value)
        status = fields.get("status")
        if status == PartStatus.RUNNING and self.row.started_at is None:
            self.row.started_at = timezone.now()
        if status is not None and status not in ACTIVE_PART_STATUSES:
            self.row.finished_at = self.row.finished_at or timezone.now()
        self.changed = True


class StepContext:
    """What a step works with: the run, the kind's ``state`` (a dict it may change), its parts,
    events and charges, all stored together when the step returns."""

    def __init__(self, run: Run, spec: KindSpec, step: int, parts: list[RunPart], seq: int):
        self.run = run
        self.spec = spec
        self.step = step
        self.state: dict[str, Any] = dict(run.state)
        self.parts: dict[str, StepPart] = {row.key: StepPart(row) for row in parts}
        self._seq = seq
        self.events: list[LogItem] = []
        self.charges: list[_Charge] = []
        self.writes: list[tuple[Callable[..., Any], dict[str, Any]]] = []
        self.cancel_requested = run.cancel_requested
        self.status = run.status
        """The run's status as this step leaves it (set when the step is stored)."""

    def part(self, key: str, label: str = "") -> StepPart:
        part = self.parts.get(key)
        if part is None:
            row = RunPart(run=self.run, key=key, label=label or key, position=len(self.parts))
            part = StepPart(row)
            self.parts[key] = part
        return part

    def emit(self, event: str, data: dict[str, Any], *, part: str = "") -> None:
        """An event, stored (and sent to viewers) with the step."""
        self._seq += 1
        self.events.append(LogItem(self.run.pk, self._seq, event, data, part, "", None, None, None))

    def charge(
        self,
        *,
        provider: str,
        model: str,
        part: str,
        cost: Decimal,
        outcome: str,
        attempt: int = 1,
        unit: str = "clip",
        quantity: Decimal | None = None,
        error_kind: str = "",
        reported: bool = True,
    ) -> None:
        """A cost record for a provider call of this step, written with the step; ``reported``
        when the provider said what it cost, else estimated from the price table."""
        self.charges.append(
            _Charge(
                provider, model, part, cost, outcome, attempt, unit, quantity, error_kind, reported
            )
        )

    def store_with_step(self, write: Callable[..., Any], **fields: Any) -> None:
        """``write(**fields)``, a write of the step's own (such as a count of the calls it made),
        run by the writer in the step's transaction instead of a database trip of its own."""
        self.writes.append((write, fields))

    @property
    def cost(self) -> Decimal:
        return sum((p.row.cost for p in self.parts.values()), Decimal("0"))


def _step_spec(run_id: UUID) -> KindSpec | None:
    kind = Run.objects.filter(pk=run_id).values_list("kind", flat=True).first()
    try:
        spec = spec_for(str(kind)) if kind else None
    except UnknownRunKind:
        return None
    return spec if spec is not None and spec.step is not None else None


def _claim(run_id: UUID, step: int, owner: str) -> tuple[KindSpec, Run, list[RunPart], int] | None:
    """Take the lease of a step-mode run for step ``step`` (one job of the writer: a step costs
    the writer two jobs, this and its ``_commit``); its kind, the run, its parts and its last
    event's ``seq``, or None when the run is not a step-mode run or not this step's to take."""
    spec = _step_spec(run_id)
    if spec is None:
        return None
    now = timezone.now()
    lease = conf.step_lease_seconds()
    claimed = (
        Run.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES, step=step)
        .exclude(lease_until__gt=now)
        .update(lease_owner=owner, lease_until=now + timedelta(seconds=lease))
    )
    if not claimed:
        return None
    if step == 0:
        Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=now
        )
    run = Run.objects.select_related("project").get(pk=run_id)
    parts = list(RunPart.objects.filter(run_id=run_id))
    last = RunEvent.objects.filter(run_id=run_id).aggregate(last=Max("seq"))["last"] or 0
    return spec, run, parts, last


def _commit(
    ctx: StepContext,
    owner: str,
    *,
    status: str,
    wake_seconds: float | None,
    terminal: tuple[str, dict[str, Any]] | None,
    fields: dict[str, Any],
) -> tuple[list[LogItem], bool] | None:
    """Store the step (state, parts, events, charges, the next wake-up or the end) in one
    transaction, if this process still holds the lease: the stored events, and whether a
    cancel was asked meanwhile (the next step then comes at once); None if not stored."""
    now = timezone.now()
    events = list(ctx.events)
    if terminal is not None:
        event, data = terminal
        events.append(LogItem(ctx.run.pk, ctx._seq + 1, event, data, "", "", None, None, None))
    with transaction.atomic():
        columns: dict[str, Any] = {
            "step": ctx.step + 1,
            "state": ctx.state,
            "lease_owner": "",
            "lease_until": None,
            "heartbeat_at": now,
            "cost": ctx.cost,
            **fields,
        }
        if terminal is None:
            columns["wake_at"] = now + timedelta(seconds=wake_seconds or 0.0)
            if status:
                columns["status"] = status
        else:
            columns.update(status=status, wake_at=None, finished_at=now, text_seq=events[-1].seq)
        updated = Run.objects.filter(
            pk=ctx.run.pk, step=ctx.step, lease_owner=owner, status__in=ACTIVE_STATUSES
        ).update(**columns)
        if not updated:
            return None
        for part in ctx.parts.values():
            if part.changed:
                row = part.row
                values = {name: getattr(row, name) for name in _PART_COLUMNS}
                part_save(ctx.run.pk, row.key, values)
        RunEvent.objects.bulk_create(
            RunEvent(
                run_id=item.run_id,
                seq=item.seq,
                event=item.event,
                part=item.part,
                data=item.data,
                created_at=item.at,
            )
            for item in events
        )
        for charge in ctx.charges:
            cost_record_create(
                provider=charge.provider,
                model=charge.model,
                reported=charge.reported,
                outcome=charge.outcome,
                cost=charge.cost,
                user_id=ctx.run.created_by_id,
                project_id=ctx.run.project_id,
                run_id=str(ctx.run.pk),
                part=charge.part,
                unit=charge.unit,
                quantity=charge.quantity,
                attempt=charge.attempt,
                error_kind=charge.error_kind,
                correlation_id=ctx.run.correlation_id,
            )
        for write, write_fields in ctx.writes:
            write(**write_fields)
        if terminal is not None:
            run_ended(ctx.run.pk, ctx.run.kind, status)
        elif ctx.spec.on_step is not None:
            ctx.status = status or ctx.run.status
            ctx.spec.on_step(ctx)
        cancel = bool(
            Run.objects.filter(pk=ctx.run.pk).values_list("cancel_requested", flat=True).first()
        )
    return events, cancel


_PART_COLUMNS = (
    "label",
    "position",
    "status",
    "provider",
    "model",
    "attempts",
    "text",
    "input_tokens",
    "output_tokens",
    "usage_reported",
    "cost",
    "progress",
    "operation",
    "result",
    "started_at",
    "first_token_at",
    "finished_at",
    "error_code",
    "error_message",
)


def _release(run_id: UUID, step: int, owner: str, retry_seconds: float) -> None:
    now = timezone.now()
    Run.objects.filter(pk=run_id, step=step, lease_owner=owner).update(
        lease_owner="", lease_until=None, wake_at=now + timedelta(seconds=retry_seconds)
    )


async def execute_step(run_id: UUID | str, step: int) -> tuple[int, float] | None:
    """Claim and execute step ``step`` of a step-mode run and store it; the next step and its
    delay, for the launcher to schedule, or None (the run ended, or another process has it)."""
    run_uuid = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
    writer = writer_for_loop()
    owner = f"{executions.worker_id()}:{id(asyncio.current_task())}"
    claimed = await writer.run_sync(_claim, run_uuid, step, owner)
    if claimed is None:
        return None
    executions.lease_hold(run_uuid, owner)
    try:
        spec, run, parts, last_seq = claimed
        ctx = StepContext(run, spec, step, parts, last_seq)
        outcome = await _run_step(ctx, spec)
        if outcome is None:
            await writer.run_sync(_release, run_uuid, step, owner, RETRY_SECONDS)
            return step, RETRY_SECONDS
        status, wake, terminal, fields = outcome
        stored = await writer.run_sync(
            lambda: _commit(
                ctx, owner, status=status, wake_seconds=wake, terminal=terminal, fields=fields
            )
        )
        if stored is None:
            logger.warning("run %s: step %d was not stored (the run moved on)", run_uuid, step)
            return None
        events, cancel = stored
        await publish_many(events)
        if terminal is not None:
            return None
        return step + 1, 0.0 if cancel else (wake or 0.0)
    finally:
        executions.lease_release(run_uuid, owner)


async def _run_step(
    ctx: StepContext, spec: KindSpec
) -> tuple[str, float | None, tuple[str, dict[str, Any]] | None, dict[str, Any]] | None:
    """Run the step; what to store: (status, next wake-up, terminal event, run columns), or
    None to try the same step again shortly (an unexpected failure of ours)."""
    run = ctx.run
    if ctx.cancel_requested:
        if spec.cancel is not None:
            try:
                await asyncio.wait_for(spec.cancel(ctx), timeout=spec.step_timeout_seconds)
            except Exception:
                logger.warning("the cancel of run %s's external work failed", run.pk, exc_info=True)
        _end_parts(ctx, PartStatus.CANCELLED)
        return (
            RunStatus.CANCELLED,
            None,
            ("cancelled", _cancelled_data(ctx)),
            {
                "cancel_requested": True,
            },
        )
    try:
        async with asyncio.timeout(spec.step_timeout_seconds):
            result = await spec.step(ctx)  # type: ignore[misc]
    except RunFailed as exc:
        code, message = exc.code, exc.message
    except ProviderError as exc:
        code, message = exc.kind.value, str(exc)
    except TimeoutError:
        logger.warning("run %s: step %d took too long; it is tried again", run.pk, ctx.step)
        return None
    except Exception:
        logger.exception("run %s: step %d failed", run.pk, ctx.step)
        code, message = "internal_error", "The run failed unexpectedly."
    else:
        if isinstance(result, Again):
            return result.status, result.seconds, None, {}
        _end_parts(ctx, PartStatus.SKIPPED)
        data = _done_data(ctx, spec, result.fields)
        return RunStatus.SUCCEEDED, None, ("done", data), {"result": jsonable(result.fields)}
    _end_parts(ctx, PartStatus.FAILED)
    return (
        RunStatus.FAILED,
        None,
        ("error", {"code": code, "message": message, "correlation_id": run.correlation_id}),
        {"error_code": code[:40], "error_message": message},
    )


def _end_parts(ctx: StepContext, status: str) -> None:
    for part in ctx.parts.values():
        if part.row.status in ACTIVE_PART_STATUSES:
            part.set(status=status)


def _cancelled_data(ctx: StepContext) -> dict[str, Any]:
    return {
        "run_id": str(ctx.run.pk),
        "text": ctx.run.text,
        "usage": {
            "input_tokens": ctx.run.input_tokens,
            "output_tokens": ctx.run.output_tokens,
            "reported": ctx.run.usage_reported,
        },
        "cost": plain(ctx.cost),
    }


def _done_data(ctx: StepContext, spec: KindSpec, extra: dict[str, Any]) -> dict[str, Any]:
    run = ctx.run
    now = timezone.now()
    started = run.started_at or now
    info = DoneInfo(
        run_id=str(run.pk),
        text=run.text,
        provider=run.provider,
        model=run.model,
        usage={
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "reported": run.usage_reported,
        },
        cost=plain(ctx.cost),
        ttft_ms=None,
        tokens_per_second=0.0,
        duration_ms=int((now - started).total_seconds() * 1000),
        part_costs={key: plain(part.row.cost) for key, part in ctx.parts.items()},
        extra=jsonable(extra),
    )
    return spec.done_fields(info)


__all__ = ["Again", "Done", "RunFailed", "StepContext", "StepResult", "execute_step"]
