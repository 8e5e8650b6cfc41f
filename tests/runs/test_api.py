"""The run routes of the API (API.md §3): SSE streams, resume, keep-alives, state, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from generation.providers.base import CompletionRequest
from generation.runs.context import RunContext
from generation.runs.kinds import registered
from generation.runs.models import Run, RunStatus
from tests.api_client import api_for, parse_sse, read_stream
from tests.runs.conftest import start_probe, stored_events, wait_ended, wait_for_chunks
from tests.runs.kinds import probe_kind

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("server_loop"),
]


async def test_events_route_sends_numbered_events_and_ends_after_the_terminal_one(
    fake_openai, team
):
    run = await start_probe(team.editor, team.project)
    client = await api_for(team.viewer)
    response = await client.get(f"/api/v1/runs/{run.pk}/events")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    events, _ = parse_sse(await read_stream(response))
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[0].event == "run" and events[-1].event == "done"
    assert [e.event for e in events].count("done") == 1
    text = "".join(e.data["content"] for e in events if e.event == "chunk")
    assert text == events[-1].data["text"] == "tok " * 30
    run = await Run.objects.aget(pk=events[0].data["run_id"])
    assert run.created_by_id == team.editor.pk and run.status == RunStatus.SUCCEEDED


async def test_events_replay_from_last_event_id_or_after(fake_openai, team):
    run = await wait_ended(await start_probe(team.editor, team.project))
    stored = await stored_events(run)
    client = await api_for(team.viewer)

    response = await client.get(f"/api/v1/runs/{run.pk}/events", headers={"Last-Event-ID": "3"})
    events, _ = parse_sse(await read_stream(response))
    assert [e.id for e in events] == [seq for seq, _, _ in stored if seq > 3]

    response = await client.get(f"/api/v1/runs/{run.pk}/events?after=5")
    events, _ = parse_sse(await read_stream(response))
    assert [e.id for e in events] == [seq for seq, _, _ in stored if seq > 5]
    assert events[-1].event == "done"

    response = await client.get(f"/api/v1/runs/{run.pk}/events?after={stored[-1][0]}")
    assert parse_sse(await read_stream(response))[0] == []


async def test_a_late_follower_gets_the_log_so_far_then_the_live_tail(fake_openai, team):
    fake_openai.configure(tokens=60, tokens_per_second=60.0)
    run = await start_probe(team.editor, team.project)
    await wait_for_chunks(run, 5)
    client = await api_for(team.viewer)

    response = await client.get(f"/api/v1/runs/{run.pk}/events")
    events, _ = parse_sse(await read_stream(response))

    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done"
    assert "".join(e.data["content"] for e in events if e.event == "chunk") == "tok " * 60


async def test_keep_alive_comments_while_idle(fake_openai, team, settings):
    settings.AURA_SSE_KEEPALIVE_SECONDS = 0.1

    async def slow(ctx: RunContext) -> dict[str, Any]:
        await ctx.progress("thinking", "Thinking")
        await asyncio.sleep(0.6)
        await ctx.stream_llm(CompletionRequest.from_prompt("Go"), provider="openai")
        return {}

    with registered(probe_kind(slow)):
        run = await start_probe(team.editor, team.project)
        client = await api_for(team.editor)
        response = await client.get(f"/api/v1/runs/{run.pk}/events")
        raw = await read_stream(response)

    events, comments = parse_sse(raw)
    assert comments.count("keep-alive") >= 2
    assert raw.index(": keep-alive") > raw.index("event: progress")
    assert events[-1].event == "done"


async def test_run_state_and_membership(fake_openai, team):
    run = await wait_ended(await start_probe(team.editor, team.project))
    viewer = await api_for(team.viewer)
    response = await viewer.get(f"/api/v1/runs/{run.pk}")
    assert response.status_code == 200
    state = response.json()
    assert state["status"] == "succeeded" and state["text"] == run.text
    assert state["attempts"][0]["provider"] == "openai"
    assert [part["key"] for part in state["parts"]] == ["main"]
    assert state["parts"][0]["text"] == run.text and state["parts"][0]["status"] == "succeeded"
    assert set(state["timings"]) >= {"queued_at", "started_at", "first_token_at", "finished_at"}
    assert state["cost"] == str(run.cost)

    outsider = await api_for(team.outsider)
    for path in (f"/api/v1/runs/{run.pk}", f"/api/v1/runs/{run.pk}/events"):
        response = await outsider.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    response = await outsider.post(f"/api/v1/runs/{run.pk}/cancel")
    assert response.status_code == 404


async def test_cancel_route_is_idempotent_and_refused_to_viewers(fake_openai, team):
    fake_openai.configure(tokens=400, tokens_per_second=40.0)
    run = await start_probe(team.editor, team.project)
    await wait_for_chunks(run, 2)

    viewer = await api_for(team.viewer)
    response = await viewer.post(f"/api/v1/runs/{run.pk}/cancel")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"

    editor = await api_for(team.editor)
    first = await editor.post(f"/api/v1/runs/{run.pk}/cancel")
    second = await editor.post(f"/api/v1/runs/{run.pk}/cancel")
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "cancelled"
    assert first.json()["text"] == second.json()["text"] != ""
    assert fake_openai.wait_for_disconnects(1)


async def test_streaming_disabled_still_streams_valid_sse(fake_openai, team, settings):
    settings.AURA_STREAMING_ENABLED = False
    run = await start_probe(team.editor, team.project)
    client = await api_for(team.editor)
    response = await client.get(f"/api/v1/runs/{run.pk}/events")
    events, _ = parse_sse(await read_stream(response))
    chunks = [e for e in events if e.event == "chunk"]
    assert len(chunks) == 1 and chunks[0].data["content"] == events[-1].data["text"] == "tok " * 30
