"""The event log of a run: numbering, one terminal event, text and checkpoints."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from generation.costs.models import CostRecord
from generation.providers.base import CompletionRequest
from generation.runs.context import RunContext, RunFailed
from generation.runs.events import text_from_events
from generation.runs.kinds import registered
from generation.runs.models import Run, RunStatus
from tests.runs.conftest import chunk_text, start_probe, stored_events, wait_ended
from tests.runs.kinds import probe_kind

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

CHUNK_FIELDS = {"content", "tokens", "cost", "tokens_per_second", "provider"}
DONE_FIELDS = {
    "run_id",
    "text",
    "provider",
    "model",
    "usage",
    "cost",
    "ttft_ms",
    "tokens_per_second",
    "duration_ms",
}


async def test_events_are_numbered_without_gaps_and_chunks_make_the_text(fake_openai, team):
    run = await start_probe(team.editor, team.project)
    run = await wait_ended(run)

    events = await stored_events(run)
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    names = [event for _, event, _ in events]
    assert names[0] == "run"
    assert set(events[0][2]) == {
        "run_id",
        "kind",
        "provider",
        "model",
        "expected_tokens",
        "expected_cost",
        "cost_ceiling",
    }
    assert [n for n in names if n in ("done", "cancelled", "error")] == ["done"]
    assert names[-1] == "done"
    chunks = [data for _, event, data in events if event == "chunk"]
    assert len(chunks) >= 2
    assert all(set(data) == CHUNK_FIELDS for data in chunks)
    assert [c["tokens"] for c in chunks] == sorted(c["tokens"] for c in chunks)

    done = events[-1][2]
    assert set(done) == DONE_FIELDS
    assert chunk_text(events) == done["text"] == run.text == "tok " * 30
    assert done["usage"] == {
        "input_tokens": run.input_tokens,
        "output_tokens": 30,
        "reported": True,
    }
    assert run.status == RunStatus.SUCCEEDED
    assert run.text_seq == events[-1][0]
    assert Decimal(done["cost"]) == run.cost > 0
    records = [r async for r in CostRecord.objects.filter(run_id=str(run.pk))]
    assert sum(r.cost for r in records) == run.cost
    assert run.first_token_at is not None and run.finished_at is not None
    assert done["ttft_ms"] is not None and done["duration_ms"] >= done["ttft_ms"]


async def test_reset_replaces_the_text_and_chunks_after_it_make_the_rest(fake_openai, team):
    async def revising(ctx: RunContext) -> dict[str, Any]:
        request = CompletionRequest.from_prompt("Draft")
        await ctx.stream_llm(request, provider="openai")
        await ctx.reset_text("Second take: ", "a revision")
        await ctx.stream_llm(request, provider="openai", continue_text="Second take: ")
        return {"validation": {"passed": True}}

    fake_openai.configure(tokens=12)
    with registered(probe_kind(revising)):
        run = await wait_ended(await start_probe(team.editor, team.project))

    events = await stored_events(run)
    resets = [seq for seq, event, data in events if data.get("stage") == "reset"]
    assert len(resets) == 1
    after_reset = [e for e in events if e[0] > resets[0]]
    assert "Second take: " + chunk_text(after_reset) == run.text
    assert run.text == "Second take: " + "tok " * 12
    assert text_from_events((event, data) for _, event, data in events) == run.text
    assert events[-1][2]["text"] == run.text
    assert run.output_tokens == 24
    assert events[-1][2]["validation"] == {"passed": True}


async def test_text_is_checkpointed_while_the_run_streams(fake_openai, team):
    fake_openai.configure(tokens=60, tokens_per_second=25.0)
    run = await start_probe(team.editor, team.project)
    checkpoints: list[tuple[str, int]] = []
    while True:
        row = await Run.objects.aget(pk=run.pk)
        if not row.is_active:
            break
        if row.text and (not checkpoints or checkpoints[-1][0] != row.text):
            checkpoints.append((row.text, row.text_seq))
        await asyncio.sleep(0.05)
    final = row.text
    assert len(checkpoints) >= 2
    events = await stored_events(run)
    for text, seq in checkpoints:
        assert final.startswith(text)
        assert text_from_events((e, d) for s, e, d in events if s <= seq) == text


async def test_a_failing_handler_ends_with_error_and_keeps_the_text(fake_openai, team):
    async def failing(ctx: RunContext) -> dict[str, Any]:
        await ctx.stream_llm(CompletionRequest.from_prompt("Draft"), provider="openai")
        raise RunFailed("validation_failed", "The draft misses a key point.")

    with registered(probe_kind(failing)):
        run = await wait_ended(await start_probe(team.editor, team.project))

    events = await stored_events(run)
    assert events[-1][1] == "error"
    assert events[-1][2] == {
        "code": "validation_failed",
        "message": "The draft misses a key point.",
        "correlation_id": run.correlation_id,
        "text": "tok " * 30,
    }
    assert run.status == RunStatus.FAILED and run.text == "tok " * 30
    assert run.cost > 0


async def test_provider_switch_is_announced_before_any_text(fake_openai, team, settings):
    providers = dict(settings.LLM_PROVIDERS)
    providers["openai"] = {
        **providers["openai"],
        "OPTIONS": {**providers["openai"]["OPTIONS"], "api_key": ""},
    }
    providers["ollama"] = {
        **providers["ollama"],
        "OPTIONS": {"base_url": fake_openai.root_url, "model": "llama3.2"},
    }
    settings.LLM_PROVIDERS = providers
    run = await wait_ended(await start_probe(team.editor, team.project))

    events = await stored_events(run)
    switches = [data for _, event, data in events if event == "provider_switch"]
    assert [(s["from"], s["to"]) for s in switches] == [
        ("openai", "ollama"),
        ("ollama", "rulebased"),
    ]
    assert all(s["reason"] for s in switches)
    first_chunk = next(seq for seq, event, _ in events if event == "chunk")
    last_switch = max(seq for seq, event, _ in events if event == "provider_switch")
    assert last_switch < first_chunk
    assert run.provider == "rulebased" and run.status == RunStatus.SUCCEEDED
    assert [a["outcome"] for a in run.attempts] == ["failed", "failed", "succeeded"]
    assert chunk_text(events) == run.text


async def test_timeout_ends_the_run_with_its_text(fake_openai, team, settings):
    settings.AURA_STREAM_TIMEOUT_SECONDS = 0.6
    fake_openai.configure(tokens=500, tokens_per_second=40.0)
    run = await wait_ended(await start_probe(team.editor, team.project))

    events = await stored_events(run)
    assert events[-1][1] == "error" and events[-1][2]["code"] == "timeout"
    assert run.status == RunStatus.FAILED and run.error_code == "timeout"
    assert run.text and run.text == chunk_text(events) == events[-1][2]["text"]
    assert fake_openai.wait_for_disconnects(1)
    record = await CostRecord.objects.aget(run_id=str(run.pk))
    assert record.outcome == "cancelled" and record.cost == run.cost
    assert 0 < run.output_tokens < 500


async def test_streaming_disabled_takes_the_non_streaming_path(fake_openai, team, settings):
    settings.AURA_STREAMING_ENABLED = False
    run = await wait_ended(await start_probe(team.editor, team.project))

    events = await stored_events(run)
    chunks = [data for _, event, data in events if event == "chunk"]
    assert len(chunks) == 1 and chunks[0]["content"] == "tok " * 30
    assert events[-1][1] == "done" and events[-1][2]["text"] == run.text == "tok " * 30
    assert run.attempts[0]["streaming"] is False and run.usage_reported
    assert await sync_to_async(CostRecord.objects.filter(run_id=str(run.pk)).count)() == 1


async def test_streaming_disabled_keeps_to_the_spending_budgets(fake_openai, team, settings):
    """The non-streaming path checks the budgets before each call, as the streaming one does:
    a project out of budget skips the paid provider without a request, and the chain moves on
    (to Ollama, unreachable here, then RuleBased)."""
    from generation.costs.models import Budget

    settings.AURA_STREAMING_ENABLED = False
    await sync_to_async(Budget.objects.create)(
        name="Launch cap",
        scope=Budget.Scope.PROJECT,
        project=team.project,
        period=Budget.Period.DAY,
        limit_usd=Decimal("0"),
    )
    seen = fake_openai.requests_seen
    run = await wait_ended(await start_probe(team.editor, team.project))

    assert run.status == RunStatus.SUCCEEDED
    assert fake_openai.requests_seen == seen
    skipped, answered = run.attempts[0], run.attempts[-1]
    assert (skipped["provider"], skipped["outcome"], skipped["error_kind"]) == (
        "openai",
        "skipped",
        "quota",
    )
    assert "“Launch cap”" in skipped["message"]
    assert answered["provider"] == "rulebased" and answered["outcome"] == "succeeded"
    events = await stored_events(run)
    switches = [data for _, event, data in events if event == "provider_switch"]
    assert [(s["from"], s["to"]) for s in switches] == [
        ("openai", "ollama"),
        ("ollama", "rulebased"),
    ]
    assert switches[0]["reason"].startswith("quota: budget “Launch cap”")
    providers = await sync_to_async(
        lambda: list(
            CostRecord.objects.filter(run_id=str(run.pk)).values_list("provider", flat=True)
        )
    )()
    # Every attempt that made a call has its record (Ollama's refused connection too); the
    # provider the budget refused was never called and costs nothing.
    assert sorted(providers) == ["ollama", "rulebased"]
