"""Keeping runs alive and honest: the heartbeat, the reaper and the control listener.

Every loop that executes runs (``ensure``, hooked onto ``launch.on_loop``) writes a heartbeat
every few seconds for every run this process holds, as a priority job of its event writer (so
a busy writer never delays it), and reads their ``cancel_requested`` flags; it listens for
cancel requests from other processes; and it reaps:

- a coroutine-mode run whose heartbeat is older than ``AURA_RUN_STALE_SECONDS`` (its process
  died), or a queued run nobody picked up, is marked ``interrupted`` with its text so far and
  the cost of what it produced; a run this process holds is never reaped;
- a step-mode run whose wake-up is overdue (its timer or message was lost with a process) and
  whose lease is free is relaunched, never interrupted.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from datetime import timedelta
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.db.models import Q
from django.utils import timezone

from generation.costs.budgets import holds_purge
from generation.runs import conf, control, executions, launch
from generation.runs.events import Ended, end_without_executor, publish_event, writer_for_loop
from generation.runs.models import ACTIVE_STATUSES, PartStatus, Run, RunStatus

logger = logging.getLogger(__name__)

INTERRUPTED_MESSAGE = "The process running this run stopped; the text produced so far is kept."

_maintained: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_tasks: set[asyncio.Task[Any]] = set()


def ensure() -> None:
    """Start the running loop's heartbeat, reaper and control listener (once per loop)."""
    loop = asyncio.get_running_loop()
    if loop in _maintained:
        return
    _maintained.add(loop)
    control.control_of_loop()
    for coroutine, name in ((_maintain(), "runs-maintenance"), (control.listen(), "runs-control")):
        task = loop.create_task(coroutine, name=name, context=contextvars.Context())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


async def _maintain() -> None:
    loop = asyncio.get_running_loop()
    writer = writer_for_loop()
    next_reap = 0.0
    while True:
        held = sorted(executions.held_run_ids())
        if held:
            try:
                cancelled, gone = await writer.run_sync(
                    heartbeat, held, executions.worker_id(), priority=True
                )
            except Exception:
                logger.warning("the run heartbeat failed", exc_info=True)
            else:
                for run_id in cancelled:
                    execution = executions.local_execution(run_id)
                    if execution is not None:
                        execution.request_cancel()
                for run_id in gone:
                    execution = executions.local_execution(run_id)
                    if execution is not None:
                        execution.abandon()
        leases = executions.held_leases()
        if leases:
            try:
                await writer.run_sync(leases_renew, leases, priority=True)
            except Exception:
                logger.warning("renewing step leases failed", exc_info=True)
        if loop.time() >= next_reap:
            next_reap = loop.time() + conf.reap_interval_seconds()
            try:
                await reap_stale_runs(writer)
            except Exception:
                logger.warning("reaping stale runs failed", exc_info=True)
        await asyncio.sleep(conf.heartbeat_seconds())


def heartbeat(run_ids: list[UUID], worker: str) -> tuple[set[UUID], set[UUID]]:
    """Stamp the coroutine-mode runs this process holds; return those whose cancel was asked
    elsewhere, and those that ended elsewhere while executing here."""
    now = timezone.now()
    Run.objects.filter(pk__in=run_ids, status__in=ACTIVE_STATUSES, wake_at__isnull=True).update(
        heartbeat_at=now, worker_id=worker
    )
    rows = Run.objects.filter(pk__in=run_ids).values_list("pk", "status", "cancel_requested")
    cancelled = {pk for pk, status, flag in rows if flag and status == RunStatus.RUNNING}
    active = {pk for pk, status, _ in rows if status in ACTIVE_STATUSES}
    gone = {pk for pk in run_ids if executions.local_execution(pk) is not None} - active
    return cancelled, gone


def leases_renew(leases: dict[UUID, str]) -> None:
    """Extend the leases of the steps this process executes (run id -> lease owner); a lease
    another process has taken meanwhile is left alone."""
    until = timezone.now() + timedelta(seconds=conf.step_lease_seconds())
    for run_id, owner in leases.items():
        Run.objects.filter(pk=run_id, lease_owner=owner, status__in=ACTIVE_STATUSES).update(
            lease_until=until
        )


def _stale_run_ids(now: Any) -> list[UUID]:
    stale = now - timedelta(seconds=conf.stale_seconds())
    coroutine_runs = Run.objects.filter(wake_at__isnull=True)
    running = coroutine_runs.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale)
    never_picked_up = coroutine_runs.filter(
        status=RunStatus.QUEUED,
        heartbeat_at__lt=now - timedelta(seconds=conf.queued_stale_seconds()),
    )
    inline_queued = coroutine_runs.filter(status=RunStatus.QUEUED, heartbeat_at__lt=stale).exclude(
        worker_id=""
    )
    ids = {
        *running.values_list("pk", flat=True),
        *never_picked_up.values_list("pk", flat=True),
        *inline_queued.values_list("pk", flat=True),
    }
    return [run_id for run_id in ids if not executions.is_held(run_id)]


def _overdue_steps(now: Any) -> list[tuple[UUID, int]]:
    """Step-mode runs whose wake-up is overdue and whose lease is free, each moved on so that
    one reaper (of any process) relaunches it."""
    late = now - timedelta(seconds=conf.step_overdue_seconds())
    rows = list(
        Run.objects.filter(status__in=ACTIVE_STATUSES, wake_at__lt=late)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("pk", "step", "wake_at")[:500]
    )
    taken = []
    for run_id, step, wake_at in rows:
        if executions.is_held(run_id):
            continue
        if Run.objects.filter(pk=run_id, wake_at=wake_at, step=step).update(wake_at=now):
            taken.append((run_id, step))
    return taken


def _interrupt(run_id: UUID) -> Ended | None:
    stale = timezone.now() - timedelta(seconds=conf.stale_seconds())

    def still_stale(run: Run) -> bool:
        return not (
            run.status == RunStatus.RUNNING and run.heartbeat_at and run.heartbeat_at >= stale
        )

    def data(run: Run, text: str) -> dict[str, Any]:
        return {
            "code": "interrupted",
            "message": INTERRUPTED_MESSAGE,
            "correlation_id": run.correlation_id,
            "text": text,
        }

    return end_without_executor(
        run_id,
        expect=ACTIVE_STATUSES,
        status=RunStatus.INTERRUPTED,
        event="error",
        data_for=data,
        fields={"error_code": "interrupted", "error_message": INTERRUPTED_MESSAGE},
        part_status=PartStatus.FAILED,
        part_error=("interrupted", INTERRUPTED_MESSAGE),
        only_if=still_stale,
    )


def reap_stale_runs_sync(relaunch: bool = True) -> tuple[list[Ended], list[tuple[UUID, int]]]:
    """Interrupt coroutine-mode runs whose process died and, with ``relaunch``, take the
    overdue steps to relaunch them (sync)."""
    now = timezone.now()
    ended = []
    for run_id in _stale_run_ids(now):
        try:
            result = _interrupt(run_id)
        except Exception:
            logger.warning("interrupting run %s failed", run_id, exc_info=True)
            continue
        if result is not None:
            logger.warning("run %s was interrupted: its process stopped", run_id)
            ended.append(result)
    try:
        holds_purge(now, run_ids=[str(item.run.pk) for item in ended])
    except Exception:
        logger.warning("could not end the budget holds of stopped calls", exc_info=True)
    return ended, _overdue_steps(now) if relaunch else []


async def reap_stale_runs(writer: Any = None, *, relaunch: bool = True) -> tuple[int, int]:
    """Reap (see ``reap_stale_runs_sync``), publish the terminal events and relaunch the
    overdue steps; how many runs were interrupted and how many steps relaunched."""
    if writer is not None:
        ended, overdue = await writer.run_sync(reap_stale_runs_sync, relaunch, priority=True)
    else:
        ended, overdue = await sync_to_async(reap_stale_runs_sync, thread_sensitive=False)(relaunch)
    for item in ended:
        await publish_event(item.run.pk, item.seq, item.event, item.data)
    for run_id, step in overdue:
        logger.info("run %s: step %d was overdue; relaunched", run_id, step)
        launch.schedule_step(run_id, step, 0.0)
    return len(ended), len(overdue)
