"""A coroutine-mode run that pauses (``raise ctx.pause(until, state)``), through the run core
alone: a kind of the test's own streams its first part, pauses, and pauses once more; while it
waits nothing executes it (no task, no claim, no worker, no provider call), ``run_wake`` brings
each wake-up forward, each stretch resumes at its own step with the state the last one stored,
the parts keep their text across the pauses, and a late wake-up of a stretch already run
claims nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from generation.costs.models import CostRecord
from generation.providers.base import CompletionRequest
from generation.runs import executions
from generation.runs.context import RunContext
from generation.runs.execute import execute_run
from generation.runs.kinds import registered
from generation.runs.models import PartStatus, Run
from generation.runs.services import run_wait_ended, run_wake
from tests.runs.conftest import stored_events
from tests.runs.kinds import probe_kind, probe_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

STRETCHES: list[tuple[int, dict[str, Any]]] = []
"""Each stretch of the handler: the run's step and state as it began."""


def later() -> Any:
    return timezone.now() + timedelta(hours=1)


async def pausing_handler(ctx: RunContext) -> dict[str, Any]:
    STRETCHES.append((ctx.run.step, dict(ctx.run.state)))
    where = ctx.run.state.get("next", "first")
    prompt = CompletionRequest.from_prompt("Write about tides.")
    if where == "first":
        first = ctx.part("first", "First")
        await first.stream_llm(prompt, provider="openai")
        first.end(PartStatus.SUCCEEDED)
        await ctx.progress("waiting", "Waiting for someone")
        raise ctx.pause(later(), {"next": "between", "first_chars": len(first.text)})
    if where == "between":
        await ctx.progress("waiting", "Still waiting")
        raise ctx.pause(later(), {**ctx.run.state, "next": "second"})
    second = ctx.part("second", "Second")
    await second.stream_llm(prompt, provider="openai")
    return {}


PAUSING = probe_kind(pausing_handler, name="pausing", parts=(), text_part=None)


@pytest.fixture(autouse=True)
def pausing_kind() -> Any:
    STRETCHES.clear()
    with registered(PAUSING):
        yield


async def waiting(run_id: Any) -> Run:
    """The run once its pause is stored and no execution holds it any more."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        run = await Run.objects.aget(pk=run_id)
        assert run.is_active, (run.status, run.error_message)
        if run.wake_at is not None and not executions.is_held(run.pk):
            return run
        assert loop.time() < deadline, "the run never paused"
        await asyncio.sleep(0.02)


async def nothing_runs(run: Run, fake_openai: Any) -> None:
    """While it waits: no execution, task, claim or worker holds the run, and no provider
    call or cost is made."""
    assert executions.local_execution(run.pk) is None and not executions.is_held(run.pk)
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert not any(str(run.pk) in name for name in names), names
    assert run.worker_id == "" and run.wake_at is not None and run.wake_at > timezone.now()
    requests = fake_openai.requests_seen
    costs = await CostRecord.objects.filter(run_id=run.pk).acount()
    await asyncio.sleep(0.3)
    assert fake_openai.requests_seen == requests
    assert await CostRecord.objects.filter(run_id=run.pk).acount() == costs
    assert (await Run.objects.aget(pk=run.pk)).wake_at == run.wake_at


async def test_a_paused_run_holds_nothing_and_each_wake_resumes_it_at_its_step(fake_openai, team):
    run = await sync_to_async(probe_start)(team.editor, team.project, kind="pausing")

    first = await waiting(run.pk)
    assert first.status == "running" and first.step == 1
    assert first.state == {"next": "between", "first_chars": len("tok " * 30)}
    await nothing_runs(first, fake_openai)
    parts = {p.key: p async for p in first.parts.all()}
    assert parts["first"].text == "tok " * 30 and parts["first"].status == "succeeded"

    assert await sync_to_async(run_wake)(run.pk)
    second = await waiting(run.pk)
    assert second.step == 2 and second.state["next"] == "second"
    await nothing_runs(second, fake_openai)

    # A wake-up of the stretch already run (a timer of the first pause, or a redelivery)
    # claims nothing and adds nothing.
    events = await stored_events(run)
    assert await execute_run(run.pk, resume_step=1) is None
    assert await stored_events(run) == events and (await Run.objects.aget(pk=run.pk)).step == 2

    assert await sync_to_async(run_wake)(run.pk)
    ended = await run_wait_ended(run.pk, 60)
    assert ended.status == "succeeded", ended.error_message
    assert not await sync_to_async(run_wake)(run.pk)
    assert STRETCHES == [
        (0, {}),
        (1, {"next": "between", "first_chars": 120}),
        (2, {"next": "second", "first_chars": 120}),
    ]
    parts = {p.key: p async for p in ended.parts.all()}
    assert parts["first"].text == "tok " * 30 and parts["second"].text == "tok " * 30
    assert fake_openai.requests_seen == 2
    assert sorted([r.part async for r in CostRecord.objects.filter(run_id=ended.pk)]) == [
        "first",
        "second",
    ]
    log = await stored_events(run)
    assert [seq for seq, _, _ in log] == list(range(1, len(log) + 1))
    names = [event for _, event, _ in log]
    assert names[0] == "run" and names.count("run") == 1 and names[-1] == "done"
    assert names.count("done") == 1
    stages = [data["message"] for _, event, data in log if event == "progress"]
    assert stages == ["Waiting for someone", "Still waiting"]
