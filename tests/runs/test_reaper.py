"""Runs whose process died are marked interrupted with their text so far."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from generation.runs.maintenance import reap_stale_runs
from generation.runs.models import Run, RunEvent, RunStatus
from tests.runs.conftest import stored_events

pytestmark = pytest.mark.django_db(transaction=True)


def _orphan(team, *, heartbeat_age: float) -> Run:
    """A run left running by a process that died: its last checkpoint holds "Hello ", and one
    more chunk was stored after it."""
    run = Run.objects.create(
        project=team.project,
        kind="probe",
        created_by=team.editor,
        status=RunStatus.RUNNING,
        provider="openai",
        started_at=timezone.now() - timedelta(minutes=2),
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age),
        worker_id="gone:1",
        text="Hello ",
        text_seq=2,
    )
    RunEvent.objects.create(run=run, seq=1, event="run", data={})
    RunEvent.objects.create(run=run, seq=2, event="chunk", data={"content": "Hello "})
    RunEvent.objects.create(run=run, seq=3, event="chunk", data={"content": "world"})
    return run


async def test_the_reaper_interrupts_runs_with_a_stale_heartbeat(team):
    from asgiref.sync import sync_to_async

    stale = await sync_to_async(_orphan)(team, heartbeat_age=120)
    fresh = await sync_to_async(_orphan)(team, heartbeat_age=1)

    assert await reap_stale_runs() == (1, 0)

    stale = await Run.objects.aget(pk=stale.pk)
    assert stale.status == RunStatus.INTERRUPTED
    assert stale.text == "Hello world" and stale.error_code == "interrupted"
    events = await stored_events(stale)
    assert [seq for seq, _, _ in events] == [1, 2, 3, 4]
    assert events[-1][1] == "error"
    assert events[-1][2]["code"] == "interrupted" and events[-1][2]["text"] == "Hello world"
    assert (await Run.objects.aget(pk=fresh.pk)).status == RunStatus.RUNNING
    assert await reap_stale_runs() == (0, 0)


def test_the_reap_runs_command_interrupts_them_too(team, capsys):
    run = _orphan(team, heartbeat_age=600)
    call_command("reap_runs")
    run.refresh_from_db()
    assert run.status == RunStatus.INTERRUPTED and run.text == "Hello world"
    assert "1 run" in capsys.readouterr().out
