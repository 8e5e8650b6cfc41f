"""Cancel: the upstream response is closed, the text so far is kept, only its tokens billed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.http import Http404

from generation.costs.models import CostRecord
from generation.runs.models import Run, RunEvent, RunStatus
from generation.runs.services import run_cancel
from tests.runs.conftest import chunk_text, start_probe, stored_events, wait_for_chunks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("server_loop"),
]


async def test_cancel_closes_the_upstream_and_keeps_the_partial_text(fake_openai, team):
    fake_openai.configure(tokens=400, tokens_per_second=40.0)
    run = await start_probe(team.editor, team.project)
    await wait_for_chunks(run, 3)

    cancelled = await run_cancel(team.owner, run.pk)

    assert cancelled.status == RunStatus.CANCELLED
    assert fake_openai.wait_for_disconnects(1)
    events = await stored_events(run)
    terminal = [e for e in events if e[1] in ("done", "cancelled", "error")]
    assert terminal == [events[-1]] and events[-1][1] == "cancelled"
    data = events[-1][2]
    assert set(data) == {"run_id", "text", "usage", "cost"}
    assert data["text"] == cancelled.text == chunk_text(events)
    assert 0 < len(cancelled.text) < len("tok " * 400)
    assert data["usage"]["output_tokens"] == cancelled.output_tokens == len(cancelled.text) // 4
    assert data["usage"]["reported"] is False
    record = await CostRecord.objects.aget(run_id=str(run.pk))
    assert record.outcome == "cancelled"
    assert record.output_tokens == cancelled.output_tokens
    assert record.cost == cancelled.cost == Decimal(data["cost"]) > 0
    assert (
        cancelled.cost
        < Decimal("0.0006") * 400 / 1000 + record.input_tokens * Decimal("0.00015") / 1000
    )


async def test_cancelling_twice_is_harmless(fake_openai, team):
    fake_openai.configure(tokens=400, tokens_per_second=40.0)
    run = await start_probe(team.editor, team.project)
    await wait_for_chunks(run, 1)

    first = await run_cancel(team.editor, run.pk)
    second = await run_cancel(team.editor, run.pk)

    assert first.status == second.status == RunStatus.CANCELLED
    assert first.text == second.text
    assert await RunEvent.objects.filter(run_id=run.pk, event="cancelled").acount() == 1
    assert await CostRecord.objects.filter(run_id=str(run.pk)).acount() == 1


async def test_a_viewer_cannot_cancel_and_a_stranger_cannot_see(fake_openai, team):
    fake_openai.configure(tokens=60, tokens_per_second=100.0)
    run = await start_probe(team.editor, team.project)
    with pytest.raises(PermissionDenied):
        await run_cancel(team.viewer, run.pk)
    with pytest.raises(Http404):
        await run_cancel(team.outsider, run.pk)
    with pytest.raises(PermissionDenied):
        await start_probe(team.viewer, team.project)


async def test_a_queued_run_is_cancelled_without_an_executor(team):
    run = await Run.objects.acreate(
        project=team.project, kind="probe", created_by=team.editor, provider="openai"
    )
    await RunEvent.objects.acreate(run=run, seq=1, event="run", data={"run_id": str(run.pk)})

    cancelled = await run_cancel(team.editor, run.pk)

    assert cancelled.status == RunStatus.CANCELLED
    events = await stored_events(run)
    assert [(seq, event) for seq, event, _ in events] == [(1, "run"), (2, "cancelled")]
    assert await sync_to_async(lambda: Run.objects.get(pk=run.pk).cancel_requested)()
