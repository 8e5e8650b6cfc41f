"""Roundtable sessions end to end through the real API, run core and writer, against a loopback
OpenAI fake that answers each step with words of its own: five agents streaming at once, one
failing or timing out while the others go on, the debate modes, the synthesis and the parsed
shot list, resuming after a reconnect, and RuleBased offline."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from generation.costs.models import CostRecord
from generation.runs.models import Run, RunEvent, RunPart
from generation.runs.services import run_wait_ended
from roundtable.agents import AGENT_KEYS
from roundtable.models import Session
from tests.api_client import SSE, api_for, parse_sse, read_stream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

TOKENS = 24


def body(team: Any, **fields: Any) -> dict[str, Any]:
    return {
        "project": team.project.pk,
        "brief": "A thirty second film about a harbour pilot guiding a ship in at dusk.",
        "platform": "tiktok",
        "duration_seconds": 30,
        "series": team.series.pk,
        "characters": [team.character.pk],
        "locations": [team.location.pk],
        "provider": "openai",
        **fields,
    }


def words(prefix: str, count: int) -> str:
    return "".join(f"{prefix}-{n} " for n in range(1, count + 1))


async def stream_session(team: Any, **fields: Any) -> list[SSE]:
    client = await api_for(team.editor)
    response = await client.post("/api/v1/roundtables/stream", body(team, **fields))
    assert response.status_code == 200, response.content
    events, _ = parse_sse(await read_stream(response))
    return events


def by_agent(events: list[SSE], name: str) -> dict[str, list[SSE]]:
    found: dict[str, list[SSE]] = {}
    for event in events:
        if event.event == name:
            found.setdefault(event.data["agent"], []).append(event)
    return found


def check_framing(events: list[SSE]) -> None:
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[0].event == "run"
    assert [e.event for e in events if e.event in ("done", "cancelled", "error")] == [
        events[-1].event
    ]


async def test_five_agents_stream_at_once_then_debate_synthesis_and_shots(table, team):
    events = await stream_session(team)
    check_framing(events)
    first = events[0].data
    assert set(first) == {"run_id", "kind", "session_id", "agents", "expected_cost", "cost_ceiling"}
    assert Decimal(first["cost_ceiling"]) >= Decimal(first["expected_cost"])
    assert first["kind"] == "roundtable" and first["agents"] == list(AGENT_KEYS)
    assert Decimal(first["expected_cost"]) > 0

    chunks = by_agent(events, "agent_chunk")
    completes = by_agent(events, "agent_complete")
    assert set(chunks) == set(completes) == set(AGENT_KEYS)
    for key in AGENT_KEYS:
        text = "".join(event.data["content"] for event in chunks[key])
        assert text == completes[key][0].data["response"] == words(key, TOKENS)
        assert set(chunks[key][0].data) == {"agent", "content", "tokens", "cost"}
    # They streamed at the same time: every agent's first chunk comes before any agent's last.
    firsts = [chunks[key][0].id for key in AGENT_KEYS]
    lasts = [chunks[key][-1].id for key in AGENT_KEYS]
    assert max(firsts) < min(lasts)
    starts = by_agent(events, "agent_start")
    assert all(starts[key][0].data["provider"] == "openai" for key in AGENT_KEYS)

    names = [event.event for event in events]
    stages = [e.data["stage"] for e in events if e.event == "status"]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == [
        "analysing",
        "judging",
        "debating",
        "synthesising",
        "shot_listing",
        "saving",
    ]
    debate_start = next(e for e in events if e.event == "debate_start")
    assert debate_start.data == {
        "challenger": "director",
        "responder": "editor",
        "topic": "how fast the opening cuts",
    }
    messages = [e.data for e in events if e.event == "debate_message"]
    assert [(m["from"], m["to"]) for m in messages] == [
        ("director", "editor"),
        ("editor", "director"),
    ]
    for message in messages:
        said = "".join(
            e.data["content"]
            for e in events
            if e.event == "debate_chunk" and e.data["from"] == message["from"]
        )
        assert said == message["message"]
    assert messages[0]["message"] == words("question", TOKENS // 2)

    synthesis = "".join(e.data["content"] for e in events if e.event == "synthesis_chunk")
    complete = next(e for e in events if e.event == "synthesis_complete")
    assert synthesis == complete.data["final_prompt"] == words("prompt", TOKENS)
    shots_text = "".join(e.data["content"] for e in events if e.event == "shots_chunk")
    shots = next(e for e in events if e.event == "shots_complete").data
    assert shots_text == shots["suggested_shots"] and shots["parsed"] is True
    assert [shot["number"] for shot in shots["shots"]] == [1, 2, 3, 4]
    assert sum(shot["duration_seconds"] for shot in shots["shots"]) == 30
    assert set(shots["shots"][0]) == {
        "number",
        "shot_type",
        "description",
        "duration_seconds",
        "camera",
        "lens",
        "lighting",
        "color",
        "on_screen_text",
    }
    assert names.index("synthesis_complete") < names.index("shots_chunk")

    done = events[-1]
    assert done.event == "done"
    assert set(done.data) == {"run_id", "session_id", "usage", "cost", "costs", "duration_ms"}
    assert set(done.data["costs"]) == {*AGENT_KEYS, "judge", "debate", "synthesis", "shots"}
    assert Decimal(done.data["cost"]) == sum(Decimal(c) for c in done.data["costs"].values())

    # Money: one ledger record per call, tagged with its part; the session's cost is their sum.
    run = await Run.objects.aget(pk=first["run_id"])
    records = [r async for r in CostRecord.objects.filter(run_id=str(run.pk))]
    assert sorted(r.part for r in records) == sorted(
        [*AGENT_KEYS, "judge", "debate", "debate", "synthesis", "shots"]
    )
    assert sum(r.cost for r in records) == run.cost == Decimal(done.data["cost"])

    # Saved and readable: the session with every agent's text, the debate, synthesis and shots.
    session = await Session.objects.aget(pk=first["session_id"])
    assert session.status == "succeeded" and session.cost == run.cost
    client = await api_for(team.viewer)
    saved = (await client.get(f"/api/v1/roundtables/{session.pk}")).json()
    assert [agent["key"] for agent in saved["agents"]] == list(AGENT_KEYS)
    assert saved["agents"][0]["text"] == words("director", TOKENS)
    assert saved["debate"]["challenger"] == "director" and len(saved["debate"]["messages"]) == 2
    assert saved["synthesis"] == complete.data["final_prompt"]
    assert saved["shots"]["parsed"] is True and len(saved["shots"]["list"]) == 4
    listing = (await client.get(f"/api/v1/projects/{team.project.pk}/roundtables")).json()
    assert [item["id"] for item in listing] == [session.pk]


async def test_an_agent_failing_mid_stream_fails_its_card_and_the_session_goes_on(table, team):
    table.behave("colorist", abort_after=5)
    events = await stream_session(team)
    check_framing(events)
    assert events[-1].event == "done"
    errors = by_agent(events, "agent_error")
    assert list(errors) == ["colorist"]
    error = errors["colorist"][0].data
    assert error["code"] == "truncated"
    chunks = "".join(e.data["content"] for e in by_agent(events, "agent_chunk")["colorist"])
    assert error["text"] == chunks == words("colorist", 5)
    assert set(by_agent(events, "agent_complete")) == set(AGENT_KEYS) - {"colorist"}
    part = await RunPart.objects.aget(run_id=events[0].data["run_id"], key="colorist")
    assert part.status == "failed" and part.text == chunks and part.error_code == "truncated"
    assert any(e.event == "synthesis_complete" for e in events)


async def test_an_agent_over_its_time_limit_is_timed_out_and_the_rest_goes_on(
    table, team, settings
):
    settings.AURA_ROUNDTABLE_AGENT_SECONDS = 1.0
    table.behave("editor", tokens_per_second=8)
    events = await stream_session(team, debate="never")
    assert events[-1].event == "done"
    error = by_agent(events, "agent_error")["editor"][0].data
    assert error["code"] == "timeout" and "1 seconds" in error["message"]
    assert 0 < len(error["text"]) < len(words("editor", TOKENS))
    part = await RunPart.objects.aget(run_id=events[0].data["run_id"], key="editor")
    assert part.status == "timed_out" and part.text == error["text"]
    record = await CostRecord.objects.aget(run_id=events[0].data["run_id"], part="editor")
    assert record.outcome == "cancelled" and record.output_tokens > 0


async def test_too_few_analyses_end_the_session_with_a_clear_error_and_every_text(table, team):
    for key in ("cinematographer", "editor", "colorist", "platform_expert"):
        table.behave(key, abort_after=3)
    events = await stream_session(team)
    error = events[-1]
    assert error.event == "error" and error.data["code"] == "too_few_analyses"
    assert "Only 1 of the five analyses arrived" in error.data["message"]
    parts = {p.key: p async for p in RunPart.objects.filter(run_id=events[0].data["run_id"])}
    assert parts["director"].text == words("director", TOKENS)
    assert parts["editor"].text == words("editor", 3) and parts["editor"].status == "failed"
    session = await Session.objects.aget(pk=events[0].data["session_id"])
    assert session.status == "failed" and "two" in session.error_message


@pytest.mark.parametrize(
    ("mode", "strength", "judged", "debated"),
    [
        ("auto", 0.8, True, True),
        ("auto", 0.2, True, False),
        ("always", 0.2, True, True),
        ("never", 0.9, False, False),
    ],
)
async def test_debate_modes(table, team, mode, strength, judged, debated):
    table.state.strength = strength
    events = await stream_session(team, debate=mode)
    assert events[-1].event == "done"
    assert ("judge" in table.state.steps) is judged
    assert any(e.event == "debate_start" for e in events) is debated
    assert (table.state.steps.count("question") == 1) is debated
    session = await Session.objects.aget(pk=events[0].data["session_id"])
    assert bool(session.debate) is debated


async def test_a_reconnecting_follower_resumes_without_losing_text(table, team):
    table.state.tokens_per_second = 30
    client = await api_for(team.editor)
    started = await client.post("/api/v1/roundtables", body(team, debate="never"))
    assert started.status_code == 202
    answer = started.json()
    assert set(answer) == {"id", "run_id", "status", "expected_cost"}
    chunks = RunEvent.objects.filter(run_id=answer["run_id"], part="director", event="agent_chunk")
    while await chunks.acount() < 3:
        await asyncio.sleep(0.02)
    viewer = await api_for(team.viewer)
    first = await viewer.get(f"/api/v1/runs/{answer['run_id']}/events?after=0")
    early, _ = parse_sse(await read_stream(first))
    cut = early[len(early) // 3].id
    rest = await viewer.get(
        f"/api/v1/runs/{answer['run_id']}/events", headers={"Last-Event-ID": str(cut)}
    )
    later, _ = parse_sse(await read_stream(rest))
    joined = [e for e in early if e.id <= cut] + later
    assert [e.id for e in joined] == list(range(1, len(joined) + 1))
    texts = {
        key: "".join(
            e.data["content"] for e in joined if e.event == "agent_chunk" and e.data["agent"] == key
        )
        for key in AGENT_KEYS
    }
    assert texts == {key: words(key, TOKENS) for key in AGENT_KEYS}


async def test_offline_the_session_runs_on_rulebased_writers_of_its_own(team):
    events = await stream_session(team, provider="auto")
    check_framing(events)
    assert events[-1].event == "done", events[-1]
    texts = {key: c[0].data["response"] for key, c in by_agent(events, "agent_complete").items()}
    assert set(texts) == set(AGENT_KEYS)
    assert len(set(texts.values())) == 5
    for text in texts.values():
        assert "## Hook" not in text and "Call to action" not in text
        assert "Mara" in text or "North Pier" in text or "harbour" in text.lower()
    # Auto tried the configured providers first (Ollama, unreachable here), then RuleBased.
    parts = {p.key: p async for p in RunPart.objects.filter(run_id=events[0].data["run_id"])}
    assert {parts[key].provider for key in AGENT_KEYS} == {"rulebased"}
    switched = {e.data["part"] for e in events if e.event == "provider_switch"}
    assert set(AGENT_KEYS) <= switched
    shots = next(e for e in events if e.event == "shots_complete").data
    assert shots["parsed"] is True
    assert sum(shot["duration_seconds"] for shot in shots["shots"]) == 30


async def test_a_viewer_joining_mid_session_sees_every_card_so_far_then_the_rest(table, team):
    import html
    import re

    from channels.testing import WebsocketCommunicator

    from aura_site.asgi import application
    from aura_site.projects.models import Activity
    from tests.runs.conftest import ORIGIN, session_cookie

    table.state.tokens_per_second = 30
    client = await api_for(team.editor)
    answer = (await client.post("/api/v1/roundtables", body(team, debate="never"))).json()
    run_id = answer["run_id"]
    chunks = RunEvent.objects.filter(run_id=run_id, event="agent_chunk")
    while await chunks.acount() < 15:
        await asyncio.sleep(0.02)
    socket = WebsocketCommunicator(
        application,
        f"/ws/runs/{run_id}/",
        headers=[ORIGIN, (b"cookie", await session_cookie(team.viewer))],
    )
    assert (await socket.connect())[0]
    dom = f"run-{run_id}"
    pattern = re.compile(rf'<div id="{dom}-([a-z_]+)-text"([^>]*)>(.*?)</div>', re.S)
    texts: dict[str, str] = {}
    snapshot: dict[str, str] = {}
    first = True
    while True:
        output = await socket.receive_output(timeout=20)
        if output["type"] == "websocket.close":
            break
        for key, attributes, content in pattern.findall(output["text"]):
            value = html.unescape(content)
            if 'hx-swap-oob="beforeend"' in attributes:
                texts[key] = texts.get(key, "") + value
            else:
                texts[key] = value
                if first:
                    snapshot[key] = value
        first = False
    for key in AGENT_KEYS:
        assert snapshot[key] and words(key, TOKENS).startswith(snapshot[key])
        assert texts[key] == words(key, TOKENS)
    verbs = [a.verb async for a in Activity.objects.filter(project=team.project).order_by("id")]
    assert any(verb.startswith("started the roundtable") for verb in verbs)
    assert any(verb.startswith("finished the roundtable") for verb in verbs)


async def test_a_quote_of_the_session_before_it_starts(table, team):
    client = await api_for(team.editor)
    quote = await client.post("/api/v1/roundtables/quote", body(team))
    assert quote.status_code == 200, quote.content
    figures = quote.json()
    expected, ceiling = Decimal(figures["expected_cost"]), Decimal(figures["cost_ceiling"])
    assert 0 < expected < ceiling
    assert not await Session.objects.aexists()
    assert (
        await client.post("/api/v1/roundtables/quote", body(team, brief="short"))
    ).status_code == 400
    started = (await client.post("/api/v1/roundtables", body(team))).json()
    assert Decimal(started["expected_cost"]) == expected
    session = await Session.objects.select_related("run").aget(pk=started["id"])
    assert session.run is not None
    assert session.run.cost_ceiling == ceiling
    await run_wait_ended(session.run.pk, 60)
