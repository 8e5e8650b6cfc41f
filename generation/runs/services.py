"""Writes of runs: start and cancel.

A product prepares its run (``run_prepare``: the kind, the validated input, the provider it
starts on and the expected cost, all computed by the product) and creates it with
``run_create``, which checks the stream limits and this process's load, creates the queued run
with its parts and its first event (``run``) and, once the transaction commits, launches it.
It returns at once; the work never depends on the connection that asked for it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from aura_site.money import plain
from aura_site.projects.models import Project, Role
from generation.runs import conf, control, executions, launch, load
from generation.runs.db import db_call
from generation.runs.events import Ended, end_without_executor, publish_event
from generation.runs.kinds import KindSpec, registered_kinds, spec_for
from generation.runs.models import ACTIVE_STATUSES, PartStatus, Run, RunEvent, RunPart, RunStatus
from generation.runs.selectors import run_for_user

logger = logging.getLogger(__name__)


class RunLimitExceeded(Exception):
    """Too many streams or too busy: the caller's own limit (``user_stream_limit``), this
    server's (``server_stream_limit``), or its measured load (``server_busy``). ``retry_after``
    is a fair wait in seconds."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _counted_kinds() -> list[str]:
    return [name for name in registered_kinds() if spec_for(name).counts_against_limits]


def _check_limits(user: Any, spec: KindSpec) -> None:
    if not spec.counts_against_limits:
        return
    active = Run.objects.filter(
        created_by=user, status__in=ACTIVE_STATUSES, kind__in=_counted_kinds()
    ).count()
    if active >= settings.AURA_MAX_STREAMS_PER_USER:
        raise RunLimitExceeded(
            "user_stream_limit",
            f"You already have {active} runs streaming (the limit is "
            f"{settings.AURA_MAX_STREAMS_PER_USER}). Wait for one to finish or cancel one.",
            retry_after=10,
        )
    if settings.AURA_RUNNER != "inline":
        return
    if executions.local_load() >= settings.AURA_MAX_CONCURRENT_STREAMS:
        raise RunLimitExceeded(
            "server_stream_limit",
            "The studio is streaming as many runs as it can right now. Try again shortly.",
            retry_after=5,
        )
    if load.saturated():
        raise RunLimitExceeded(
            "server_busy",
            "The studio is too busy to start another run right now; the runs it has started "
            "are finishing. Try again in a few seconds.",
            retry_after=5,
        )


@dataclass(frozen=True, slots=True)
class RunDraft:
    """A run checked and priced by its product, ready to be created (``run_create``)."""

    user: Any
    project: Project
    kind: str
    input: dict[str, Any]
    provider_requested: str = ""
    provider: str = ""
    model: str = ""
    expected_tokens: int = 0
    expected_cost: Decimal = Decimal("0")
    correlation_id: str = ""
    cost_ceiling: Decimal = Decimal("0")
    """The most the run may spend: every call's upper bound on every provider of its chain."""


def run_prepare(
    *,
    user: Any,
    project: Project,
    kind: str,
    input: dict[str, Any],
    provider_requested: str = "",
    provider: str = "",
    model: str = "",
    expected_tokens: int = 0,
    expected_cost: Decimal = Decimal("0"),
    correlation_id: str = "",
    cost_ceiling: Decimal | None = None,
) -> RunDraft:
    spec_for(kind)
    return RunDraft(
        user,
        project,
        kind,
        input,
        provider_requested,
        provider,
        model,
        expected_tokens,
        expected_cost,
        correlation_id[:64],
        max(expected_cost, cost_ceiling if cost_ceiling is not None else expected_cost),
    )


def run_create(draft: RunDraft, *, with_run: Callable[[Run], None] | None = None) -> Run:
    """Check the limits, create the queued run with its parts and its ``run`` event, launch it
    after commit. ``with_run(run)`` runs inside the transaction, before the ``run`` event is
    written (a product's own row that the event names).

    The one write transaction of a start: async callers run it on the run writer's thread
    (``EventWriter.run_sync``), so that starts never wait on SQLite's lock behind live events.
    """
    spec = spec_for(draft.kind)
    now = timezone.now()
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=draft.user.pk).first()
        _check_limits(draft.user, spec)
        run = Run.objects.create(
            project=draft.project,
            kind=draft.kind,
            created_by=draft.user,
            input=draft.input,
            provider_requested=draft.provider_requested,
            provider=draft.provider,
            model=draft.model,
            expected_tokens=draft.expected_tokens,
            expected_cost=draft.expected_cost,
            cost_ceiling=draft.cost_ceiling,
            correlation_id=draft.correlation_id or uuid.uuid4().hex,
            heartbeat_at=now,
            worker_id=executions.worker_id() if settings.AURA_RUNNER == "inline" else "",
            wake_at=now if spec.mode == "steps" else None,
        )
        RunPart.objects.bulk_create(
            RunPart(
                run=run,
                key=part.key,
                label=part.label or part.key,
                position=position,
                status=PartStatus.WAITING,
            )
            for position, part in enumerate(spec.parts)
        )
        if with_run is not None:
            with_run(run)
        RunEvent.objects.create(run=run, seq=1, event="run", data=spec.run_event_fields(run))
        transaction.on_commit(lambda: launch.launch(run.pk, run.kind))
    return run


def run_start(**fields: Any) -> Run:
    """``run_create(run_prepare(**fields))`` (sync). The caller has checked the role."""
    return run_create(run_prepare(**fields))


# ---- cancel ------------------------------------------------------------------------------


def _mark_cancel(run_id: UUID, user_id: Any) -> Run:
    Run.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES, cancel_requested=False).update(
        cancel_requested=True, cancelled_by_id=user_id
    )
    return Run.objects.get(pk=run_id)


def _end_without_executor(run_id: UUID, expect: tuple[str, ...]) -> Ended | None:
    def data(run: Run, text: str) -> dict[str, Any]:
        return {
            "run_id": str(run.pk),
            "text": text,
            "usage": {
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "reported": run.usage_reported,
            },
            "cost": plain(run.cost),
        }

    return end_without_executor(
        run_id,
        expect=expect,
        status=RunStatus.CANCELLED,
        event="cancelled",
        data_for=data,
        fields={"cancel_requested": True},
        part_status=PartStatus.CANCELLED,
    )


async def run_cancel(user: Any, run_id: object, *, wait: float | None = None) -> Run:
    """Cancel a run (editors and owners); idempotent. Returns the run once it has ended (or
    after ``wait`` seconds)."""
    run, _ = await sync_to_async(run_for_user)(user, run_id, Role.EDITOR)
    if not run.is_active:
        return run
    run = await db_call(_mark_cancel, run.pk, getattr(user, "pk", None))
    if spec_for(run.kind).mode == "steps":
        if run.lease_until is None or run.lease_until < timezone.now():
            launch.schedule_step(run.pk, run.step, 0.0)
        return await run_wait_ended(run.pk, conf.cancel_wait_seconds() if wait is None else wait)
    execution = executions.local_execution(run.pk)
    if execution is not None:
        execution.request_cancel()
    elif run.wake_at is not None:
        launch.schedule_step(run.pk, run.step, 0.0)
    elif run.status == RunStatus.QUEUED or _heartbeat_stale(run):
        expect = (RunStatus.QUEUED,) if run.status == RunStatus.QUEUED else ACTIVE_STATUSES
        ended = await db_call(_end_without_executor, run.pk, tuple(expect))
        if ended is not None:
            await publish_event(ended.run.pk, ended.seq, ended.event, ended.data)
    else:
        await control.send(run.pk, "cancel")
    return await run_wait_ended(run.pk, conf.cancel_wait_seconds() if wait is None else wait)


def run_wake(run_id: UUID) -> bool:
    """Bring the wake-up of a waiting run forward to now (a paused coroutine-mode run, or a
    step-mode run between steps); call after the caller's transaction commits. False when the
    run is not waiting."""
    run = Run.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES, wake_at__isnull=False).first()
    if run is None:
        return False
    launch.schedule_step(run.pk, run.step, 0.0)
    return True


def _heartbeat_stale(run: Run) -> bool:
    if run.status != RunStatus.RUNNING or run.heartbeat_at is None:
        return False
    return run.heartbeat_at < timezone.now() - timedelta(seconds=conf.stale_seconds())


def _run_get(run_id: UUID) -> Run:
    return Run.objects.get(pk=run_id)


async def run_wait_ended(run_id: UUID, seconds: float) -> Run:
    """The run once it has ended, or as it is after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        run = await db_call(_run_get, run_id)
        if not run.is_active or loop.time() >= deadline:
            return run
        await asyncio.sleep(0.05)
