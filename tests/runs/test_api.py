"""The API of runs (API.md §3): SSE streams, resume, state, cancel, limits, validation."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from aura_site.accounts.tokens import token_create
from generation.providers.base import CompletionRequest
from generation.runs.context import RunContext
from generation.runs.kinds import kind_override
from generation.runs.models import Run, RunStatus
from tests.runs.conftest import start_script, stored_events, wait_ended, wait_for_chunks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("server_loop", "plain_script"),
]


@dataclass
class SSE:
    id: int | None
    event: str
    data: dict[str, Any]


def parse_sse(raw: str) -> tuple[list[SSE], list[str]]:
    """Events and comments of an SSE body (the WHATWG field rules, one data line here)."""
    events: list[SSE] = []
    comments: list[str] = []
    for block in raw.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line:
                continue
            if line.startswith(":"):
                comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if "event" in fields:
            events.append(
                SSE(
                    int(fields["id"]) if "id" in fields else None,
                    fields["event"],
                    json.loads(fields["data"]),
                )
            )
    return events, comments


async def read_stream(response: Any) -> str:
    parts = []
    async for chunk in response.streaming_content:
        parts.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
    return "".join(parts)


class Api:
    """An API client of one user (a bearer token), through the real ASGI handler."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.client = AsyncClient()
        self.headers = headers

    async def post(self, path: str, payload: Any = None) -> Any:
        return await self.client.post(
            path, payload, content_type="application/json", headers=self.headers
        )

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return await self.client.get(path, headers={**self.headers, **(headers or {})})


async def api_for(user: Any) -> Api:
    if user is None:
        return Api({})
    _, raw = await sync_to_async(token_create)(user=user, name="tests")
    return Api({"Authorization": f"Bearer {raw}"})


def body(team: Any, **fields: Any) -> dict[str, Any]:
    return {"project": team.project.pk, "topic": "Tides explained", "provider": "openai", **fields}


async def test_stream_sends_numbered_events_and_ends_after_the_terminal_one(fake_openai, team):
    client = await api_for(team.editor)
    response = await client.post("/api/v1/scripts/stream", body(team))

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
    run = await wait_ended(await start_script(team.editor, team.project))
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
    run = await start_script(team.editor, team.project)
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

    with kind_override("script", slow):
        client = await api_for(team.editor)
        response = await client.post("/api/v1/scripts/stream", body(team))
        raw = await read_stream(response)

    events, comments = parse_sse(raw)
    assert comments.count("keep-alive") >= 2
    assert raw.index(": keep-alive") > raw.index("event: progress")
    assert events[-1].event == "done"


async def test_non_streaming_route_waits_for_the_script(fake_openai, team):
    client = await api_for(team.editor)
    response = await client.post("/api/v1/scripts", body(team))
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "succeeded" and data["text"] == "tok " * 30
    assert data["usage"]["output_tokens"] == 30 and data["usage"]["reported"] is True
    assert data["provider"] == "openai" and data["model"] == "gpt-4o-mini"


async def test_run_state_and_membership(fake_openai, team):
    run = await wait_ended(await start_script(team.editor, team.project))
    viewer = await api_for(team.viewer)
    response = await viewer.get(f"/api/v1/runs/{run.pk}")
    assert response.status_code == 200
    state = response.json()
    assert state["status"] == "succeeded" and state["text"] == run.text
    assert state["attempts"][0]["provider"] == "openai"
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
    run = await start_script(team.editor, team.project)
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


async def test_per_user_limit_answers_429_with_retry_after(fake_openai, team, settings):
    settings.AURA_MAX_STREAMS_PER_USER = 1
    fake_openai.configure(tokens=400, tokens_per_second=40.0)
    running = await start_script(team.editor, team.project)
    client = await api_for(team.editor)

    response = await client.post("/api/v1/scripts/stream", body(team))

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "user_stream_limit"
    assert await Run.objects.acount() == 1
    other = await (await api_for(team.owner)).post("/api/v1/scripts/stream", body(team))
    assert other.status_code == 200
    await (await api_for(team.owner)).post(f"/api/v1/runs/{running.pk}/cancel")


async def test_bad_requests_get_field_details(team):
    client = await api_for(team.editor)
    cases = [
        (body(team, mood="sunny"), "mood"),
        (body(team, topic="no"), "topic"),
        (body(team, duration_seconds=5), "duration_seconds"),
        (body(team, key_points=[{"text": "x", "priority": "urgent"}]), "key_points.0.priority"),
    ]
    for payload, field in cases:
        response = await client.post("/api/v1/scripts/stream", payload)
        assert response.status_code == 400, payload
        details = response.json()["error"]["details"]
        assert field in [d["field"] for d in details], details
    response = await client.post("/api/v1/scripts/stream", body(team, provider="nonesuch"))
    assert response.status_code == 400
    assert await Run.objects.acount() == 0


async def test_viewers_cannot_start_and_strangers_do_not_see_the_project(team):
    viewer = await api_for(team.viewer)
    response = await viewer.post("/api/v1/scripts/stream", body(team))
    assert response.status_code == 403
    outsider = await api_for(team.outsider)
    response = await outsider.post("/api/v1/scripts", body(team))
    assert response.status_code == 404
    anonymous = await api_for(None)
    response = await anonymous.post("/api/v1/scripts", body(team))
    assert response.status_code == 401


async def test_streaming_disabled_still_streams_valid_sse(fake_openai, team, settings):
    settings.AURA_STREAMING_ENABLED = False
    client = await api_for(team.editor)
    response = await client.post("/api/v1/scripts/stream", body(team))
    events, _ = parse_sse(await read_stream(response))
    chunks = [e for e in events if e.event == "chunk"]
    assert len(chunks) == 1 and chunks[0].data["content"] == events[-1].data["text"] == "tok " * 30
