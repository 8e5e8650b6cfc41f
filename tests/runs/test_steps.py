"""Step mode: runs that wait on someone else as short steps, with nothing held in between.

A test kind submits an "external job" in its first step (a side effect counted here, its id
stored in the part's ``operation``), polls it a few times, then finishes. Two hundred such runs
wait at once on the test's one loop without a thread each; a redelivered step does not repeat
its side effect; an overdue step is relaunched by the reaper, not interrupted; a cancel of a
waiting run calls the kind's own cancel and ends it ``cancelled``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from generation.costs.models import CostRecord
from generation.runs.kinds import KindSpec, PartSpec, registered
from generation.runs.maintenance import reap_stale_runs
from generation.runs.models import Run, RunEvent, RunPart, RunStatus
from generation.runs.services import run_cancel, run_start, run_wait_ended
from generation.runs.stepping import Again, Done, StepContext, execute_step
from tests.runs.conftest import stored_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

SUBMITTED: Counter[str] = Counter()
CANCELLED: Counter[str] = Counter()


async def waiting_step(ctx: StepContext) -> Again | Done:
    polls = int(ctx.run.input.get("polls", 3))
    interval = float(ctx.run.input.get("interval", 0.05))
    job = ctx.part("job", "External job")
    if not job.operation:
        SUBMITTED[str(ctx.run.pk)] += 1
        await asyncio.sleep(float(ctx.run.input.get("submit_seconds", 0)))
        job.set(status="submitted", provider="fake", operation={"id": f"job-{ctx.run.pk}"})
        ctx.emit("attempt_start", {"provider": "fake", "model": "m"}, part="job")
        return Again(interval, status=RunStatus.SUBMITTED)
    ctx.state["polls"] = int(ctx.state.get("polls", 0)) + 1
    percent = min(100, round(100 * ctx.state["polls"] / polls))
    job.set(status="running", progress=percent)
    ctx.emit("progress", {"percent": percent, "message": "Rendering"}, part="job")
    if ctx.state["polls"] < polls:
        return Again(interval, status=RunStatus.RUNNING)
    job.set(
        status="succeeded", result={"url": "https://example.test/clip.mp4"}, cost=Decimal("0.5")
    )
    ctx.charge(
        provider="fake",
        model="m",
        part="job",
        cost=Decimal("0.5"),
        outcome="succeeded",
        unit="clip",
        quantity=Decimal("1"),
    )
    return Done({"job_id": job.operation["id"], "polls": ctx.state["polls"]})


async def cancel_job(ctx: StepContext) -> None:
    CANCELLED[str(ctx.run.pk)] += 1


WAITING = KindSpec(
    name="waiting",
    label="Waiting job",
    step=waiting_step,
    cancel=cancel_job,
    parts=(PartSpec("job", "External job"),),
    text_part=None,
    counts_against_limits=False,
)


@pytest.fixture(autouse=True)
def waiting_kind() -> Any:
    SUBMITTED.clear()
    CANCELLED.clear()
    with registered(WAITING):
        yield


def start(team: Any, **input: Any) -> Run:
    return run_start(user=team.editor, project=team.project, kind="waiting", input=input)


async def astart(team: Any, **input: Any) -> Run:
    return await sync_to_async(start)(team, **input)


async def ended(run: Run, seconds: float = 30) -> Run:
    run = await run_wait_ended(run.pk, seconds)
    assert not run.is_active, f"run still {run.status}"
    return run


async def test_a_step_run_submits_once_polls_then_succeeds(team):
    run = await ended(await astart(team, polls=3))

    assert run.status == RunStatus.SUCCEEDED and run.step == 4
    assert SUBMITTED[str(run.pk)] == 1
    events = await stored_events(run)
    names = [event for _, event, _ in events]
    assert names == ["run", "attempt_start", "progress", "progress", "progress", "done"]
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][2]["job_id"] == f"job-{run.pk}" and events[-1][2]["polls"] == 3
    part = await RunPart.objects.aget(run=run, key="job")
    assert part.status == "succeeded" and part.progress == 100
    assert part.operation == {"id": f"job-{run.pk}"}
    assert run.cost == Decimal("0.5") and run.wake_at is None and run.lease_owner == ""
    record = await CostRecord.objects.aget(run_id=str(run.pk))
    assert (record.part, record.unit, record.quantity, record.cost) == (
        "job",
        "clip",
        Decimal("1"),
        Decimal("0.5"),
    )


async def test_two_hundred_waiting_runs_hold_no_thread_each(team):
    before = threading.active_count()
    runs = [await astart(team, polls=4, interval=0.3) for _ in range(200)]
    peak = before
    while True:
        peak = max(peak, threading.active_count())
        statuses = await sync_to_async(
            lambda: Counter(Run.objects.filter(kind="waiting").values_list("status", flat=True))
        )()
        if statuses.get("succeeded", 0) == len(runs):
            break
        assert sum(statuses.values()) == len(runs)
        await asyncio.sleep(0.1)
    # The writer, the database readers and the loop: a handful of threads, never one per run.
    assert peak - before < 12, (before, peak)
    assert sum(SUBMITTED.values()) == 200 and set(SUBMITTED.values()) == {1}


async def test_a_redelivered_step_does_not_repeat_its_side_effect(team):
    run = await sync_to_async(_bare_run)(team)

    # Two deliveries of step 0 at once: one claims it, the other finds nothing to do.
    results = await asyncio.gather(execute_step(run.pk, 0), execute_step(run.pk, 0))
    assert sorted(results, key=str) == sorted([None, (1, 0.05)], key=str)
    assert SUBMITTED[str(run.pk)] == 1
    # The same message delivered again after the step was stored: nothing happens.
    assert await execute_step(run.pk, 0) is None
    assert SUBMITTED[str(run.pk)] == 1
    run = await Run.objects.aget(pk=run.pk)
    assert run.step == 1 and run.status == RunStatus.SUBMITTED
    part = await RunPart.objects.aget(run=run, key="job")
    assert part.operation == {"id": f"job-{run.pk}"} and part.status == "submitted"
    assert await RunEvent.objects.filter(run=run, event="attempt_start").acount() == 1


async def test_a_step_is_claimed_by_one_worker_while_it_runs(team):
    run = await sync_to_async(_bare_run)(team, submit_seconds=0.5)
    first = asyncio.create_task(execute_step(run.pk, 0))
    await asyncio.sleep(0.1)
    assert await execute_step(run.pk, 0) is None
    assert await first == (1, 0.05)
    assert SUBMITTED[str(run.pk)] == 1


async def test_a_step_longer_than_its_lease_keeps_it_while_its_process_renews_it(team, settings):
    """The lease is short and the heartbeat renews it: a step that takes longer than its lease
    is not taken over by another worker while its process is alive."""
    settings.AURA_RUN_STEP_LEASE_SECONDS = 0.6
    run = await sync_to_async(_bare_run)(team, submit_seconds=1.5)
    claimed_at = timezone.now()
    first = asyncio.create_task(execute_step(run.pk, 0))
    await asyncio.sleep(0.2)
    lease_until = (await Run.objects.aget(pk=run.pk)).lease_until
    assert lease_until is not None
    # Held for the lease, not for the step's whole time limit.
    assert lease_until - claimed_at < timedelta(seconds=WAITING.step_timeout_seconds)
    await asyncio.sleep(0.9)
    assert await execute_step(run.pk, 0) is None
    assert await first == (1, 0.05)
    assert SUBMITTED[str(run.pk)] == 1
    stored = await Run.objects.aget(pk=run.pk)
    assert stored.lease_owner == "" and stored.lease_until is None


async def test_an_overdue_step_is_relaunched_not_interrupted(team, settings):
    settings.AURA_RUN_STEP_OVERDUE_SECONDS = 1
    # A run whose wake-up was lost with its process: due a minute ago, lease free.
    run = await sync_to_async(_bare_run)(team, polls=2)
    await Run.objects.filter(pk=run.pk).aupdate(
        wake_at=timezone.now() - timedelta(minutes=1),
        status=RunStatus.SUBMITTED,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )

    # This loop's own reaper may relaunch it first; either way the step runs once.
    interrupted, _ = await reap_stale_runs()

    assert interrupted == 0
    run = await ended(run)
    assert run.status == RunStatus.SUCCEEDED
    assert SUBMITTED[str(run.pk)] == 1
    assert await reap_stale_runs() == (0, 0)


async def test_a_step_whose_lease_was_taken_over_stores_nothing(team):
    run = await sync_to_async(_bare_run)(team, submit_seconds=0.3)
    first = asyncio.create_task(execute_step(run.pk, 0))
    await asyncio.sleep(0.1)
    # Another process took the run over (the first one's lease expired and it stored a step).
    await Run.objects.filter(pk=run.pk).aupdate(lease_owner="other:1", step=1)
    assert await first is None
    assert await RunEvent.objects.filter(run=run, event="attempt_start").acount() == 0


async def test_cancelling_a_waiting_run_calls_the_kinds_cancel_once(team):
    run = await astart(team, polls=100, interval=0.5)
    while not await RunPart.objects.filter(run=run, key="job", status="submitted").aexists():
        await asyncio.sleep(0.02)

    cancelled = await run_cancel(team.editor, run.pk)

    assert cancelled.status == RunStatus.CANCELLED
    assert CANCELLED[str(run.pk)] == 1
    events = await stored_events(cancelled)
    assert events[-1][1] == "cancelled"
    assert [event for _, event, _ in events].count("cancelled") == 1
    part = await RunPart.objects.aget(run=run, key="job")
    assert part.status == "cancelled"
    await asyncio.sleep(0.6)
    assert (await Run.objects.aget(pk=run.pk)).step == cancelled.step


async def test_cancelling_a_queued_step_run_ends_it_at_once(team):
    run = await sync_to_async(_bare_run)(team)
    cancelled = await run_cancel(team.editor, run.pk)
    assert cancelled.status == RunStatus.CANCELLED
    assert SUBMITTED[str(run.pk)] == 0 and CANCELLED[str(run.pk)] == 1


@transaction.atomic
def _bare_run(team: Any, **input: Any) -> Run:
    """A step run created as ``run_create`` does, but never launched (as if its first message
    were lost): the test drives its steps."""
    run = Run.objects.create(
        project=team.project,
        kind="waiting",
        created_by=team.editor,
        input={"interval": 0.05, **input},
        wake_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    RunPart.objects.create(run=run, key="job", label="External job")
    RunEvent.objects.create(run=run, seq=1, event="run", data={"run_id": str(run.pk)})
    return run
