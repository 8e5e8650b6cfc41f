"""A kind's ``on_end`` runs once on every kind of ending, inside the transaction that stores the
terminal event (it sees the run already ended); and the non-streaming path keeps to the same
chain: retries, a cost record for every attempt, failures recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from generation.costs.models import CostRecord
from generation.providers.base import CompletionRequest
from generation.runs.context import RunContext
from generation.runs.errors import RunFailed
from generation.runs.kinds import registered
from generation.runs.maintenance import reap_stale_runs
from generation.runs.models import Run, RunEvent, RunPart, RunStatus
from generation.runs.services import run_cancel
from tests.fakes.providers import FakeProviderServer, openai_error, openai_stream
from tests.runs.conftest import start_probe, stored_events, wait_ended, wait_for_chunks
from tests.runs.kinds import probe_handler, probe_kind

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

ENDINGS: list[tuple[str, str, str, int]] = []


def record_ending(run: Run, status: str) -> None:
    """What ``on_end`` saw: the run as stored at that moment, and its terminal event."""
    stored = Run.objects.get(pk=run.pk)
    terminal = RunEvent.objects.filter(run=run, event__in=("done", "cancelled", "error")).count()
    ENDINGS.append((str(run.pk), status, stored.status, terminal))


async def failing(ctx: RunContext) -> dict[str, Any]:
    await ctx.stream_llm(CompletionRequest.from_prompt("Go"), provider="openai")
    raise RunFailed("not_good_enough", "The draft falls short.")


@pytest.fixture(autouse=True)
def endings() -> Any:
    ENDINGS.clear()
    yield ENDINGS


def kind(handler: Any = probe_handler) -> Any:
    return registered(probe_kind(handler, on_end=record_ending))


async def test_on_end_when_the_run_succeeds_or_fails(fake_openai, team):
    with kind():
        done = await wait_ended(await start_probe(team.editor, team.project))
    with kind(failing):
        failed = await wait_ended(await start_probe(team.editor, team.project))
    assert [
        (str(done.pk), "succeeded", "succeeded", 1),
        (str(failed.pk), "failed", "failed", 1),
    ] == ENDINGS


async def test_on_end_when_cancelled_with_and_without_an_executor(fake_openai, team):
    fake_openai.configure(tokens=400, tokens_per_second=40.0)
    with kind():
        running = await start_probe(team.editor, team.project)
        await wait_for_chunks(running, 2)
        await run_cancel(team.editor, running.pk)
        queued = await sync_to_async(_queued_run)(team)
        await run_cancel(team.editor, queued.pk)
    assert [
        (str(running.pk), "cancelled", "cancelled", 1),
        (str(queued.pk), "cancelled", "cancelled", 1),
    ] == ENDINGS
    part = await RunPart.objects.aget(run=queued, key="main")
    assert part.status == "cancelled"


async def test_on_end_when_the_reaper_interrupts_a_run(team):
    with kind():
        orphan = await sync_to_async(_orphan)(team)
        # This loop's own reaper may take it first; either way it is interrupted once.
        await reap_stale_runs()
        assert (await Run.objects.aget(pk=orphan.pk)).status == RunStatus.INTERRUPTED
        assert await reap_stale_runs() == (0, 0)
    assert [(str(orphan.pk), "interrupted", "interrupted", 1)] == ENDINGS
    part = await RunPart.objects.aget(run=orphan, key="main")
    assert part.status == "failed" and part.error_code == "interrupted"
    assert part.text == "Hello world"


async def test_a_failing_on_end_never_undoes_the_ending(fake_openai, team):
    def broken(run: Run, status: str) -> None:
        raise RuntimeError("the product's own rows are in a bad way")

    with registered(probe_kind(on_end=broken)):
        run = await wait_ended(await start_probe(team.editor, team.project))
    assert run.status == RunStatus.SUCCEEDED
    assert (await stored_events(run))[-1][1] == "done"


@pytest.fixture
def scripted(settings: Any) -> Any:
    """OpenAI at a fake answering from a script of replies; Ollama unreachable."""
    from generation.providers import registry

    with FakeProviderServer() as fake:
        providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
        providers["openai"] = {
            **providers["openai"],
            "OPTIONS": {"api_key": "sk-test", "base_url": fake.url("/v1"), "model": "gpt-4o-mini"},
        }
        providers["ollama"] = {
            **providers["ollama"],
            "OPTIONS": {"base_url": "http://127.0.0.1:9", "model": "llama3.2"},
        }
        settings.LLM_PROVIDERS = providers
        registry.reset()
        yield fake
        registry.reset()


async def test_non_streaming_calls_are_retried_and_every_attempt_recorded(scripted, team, settings):
    settings.AURA_STREAMING_ENABLED = False
    scripted.push(
        openai_error(503, "The server is overloaded", headers={"retry-after-ms": "10"}),
        openai_stream(["Calm ", "seas"], usage=(9, 2)),
    )
    run = await wait_ended(await start_probe(team.editor, team.project))

    assert run.status == RunStatus.SUCCEEDED and run.text == "Calm seas"
    assert len(scripted.requests) == 2
    (attempt,) = run.attempts
    assert attempt["retries"] == 1 and attempt["streaming"] is False
    assert attempt["outcome"] == "succeeded" and attempt["part"] == "main"
    events = await stored_events(run)
    assert [data["content"] for _, event, data in events if event == "chunk"] == ["Calm seas"]
    records = [r async for r in CostRecord.objects.filter(run_id=str(run.pk))]
    assert [(r.provider, r.outcome, r.part, r.output_tokens) for r in records] == [
        ("openai", "succeeded", "main", 2)
    ]


async def test_non_streaming_failures_fall_back_and_are_recorded(scripted, team, settings):
    settings.AURA_STREAMING_ENABLED = False
    scripted.push(openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
    run = await wait_ended(await start_probe(team.editor, team.project))

    assert run.status == RunStatus.SUCCEEDED and run.provider == "rulebased"
    assert len(scripted.requests) == 1
    outcomes = [(a["provider"], a["outcome"], a["error_kind"]) for a in run.attempts]
    assert outcomes == [
        ("openai", "failed", "auth"),
        ("ollama", "failed", "network"),
        ("rulebased", "succeeded", ""),
    ]
    records = sorted(
        [
            (r.attempt, r.provider, r.outcome, r.error_kind)
            async for r in CostRecord.objects.filter(run_id=str(run.pk))
        ]
    )
    assert records == [
        (1, "openai", "failed", "auth"),
        (2, "ollama", "failed", "network"),
        (3, "rulebased", "succeeded", ""),
    ]
    switches = [data for _, event, data in await stored_events(run) if event == "provider_switch"]
    assert [(s["from"], s["to"]) for s in switches] == [
        ("openai", "ollama"),
        ("ollama", "rulebased"),
    ]


@transaction.atomic
def _queued_run(team: Any) -> Run:
    run = Run.objects.create(
        project=team.project, kind="probe", created_by=team.editor, provider="openai"
    )
    RunPart.objects.create(run=run, key="main", label="Text")
    RunEvent.objects.create(run=run, seq=1, event="run", data={"run_id": str(run.pk)})
    return run


@transaction.atomic
def _orphan(team: Any) -> Run:
    """A run left running by a process that died (made in one transaction, so that this loop's
    own reaper sees it whole)."""
    run = Run.objects.create(
        project=team.project,
        kind="probe",
        created_by=team.editor,
        status=RunStatus.RUNNING,
        provider="openai",
        started_at=timezone.now() - timedelta(minutes=2),
        heartbeat_at=timezone.now() - timedelta(minutes=2),
        worker_id="gone:1",
        text="Hello ",
        text_seq=2,
    )
    RunPart.objects.create(run=run, key="main", status="running", text="Hello ", text_seq=2)
    RunEvent.objects.create(run=run, seq=1, event="run", data={})
    RunEvent.objects.create(run=run, seq=2, event="chunk", part="main", data={"content": "Hello "})
    RunEvent.objects.create(run=run, seq=3, event="chunk", part="main", data={"content": "world"})
    return run
