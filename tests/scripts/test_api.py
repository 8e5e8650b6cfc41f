"""The script routes of the API (API.md §3): ``POST /api/v1/scripts/stream`` and
``POST /api/v1/scripts`` through the real pipeline, against a loopback OpenAI fake that answers
with a script that passes validation (the offline writer's, for the same brief)."""

from __future__ import annotations

from typing import Any

import pytest

from generation.runs.models import Run, RunStatus
from generation.scripts.offline import script_writer
from generation.scripts.prompt import brief_build, request_build
from tests.api_client import api_for, parse_sse, read_stream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

TOPIC = "Tides explained"


def valid_script(duration: int = 60) -> str:
    brief = brief_build(topic=TOPIC, platform="youtube", duration_seconds=duration)
    return script_writer(request_build(brief)).strip()


def body(team: Any, **fields: Any) -> dict[str, Any]:
    return {"project": team.project.pk, "topic": TOPIC, "provider": "openai", **fields}


@pytest.fixture
def answering(scripted_openai: Any) -> str:
    text = valid_script()
    scripted_openai.push(text)
    return text


async def test_stream_sends_numbered_events_and_ends_after_the_terminal_one(answering, team):
    client = await api_for(team.editor)
    response = await client.post("/api/v1/scripts/stream", body(team))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    events, _ = parse_sse(await read_stream(response))
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[0].event == "run" and events[-1].event == "done"
    assert set(events[0].data) == {
        "run_id",
        "kind",
        "provider",
        "model",
        "expected_tokens",
        "expected_cost",
        "cost_ceiling",
    }
    assert events[0].data["kind"] == "script"
    assert [e.event for e in events].count("done") == 1
    chunks = [e for e in events if e.event == "chunk"]
    assert len(chunks) >= 2
    assert all(
        set(e.data) == {"content", "tokens", "cost", "tokens_per_second", "provider"}
        for e in chunks
    )
    text = "".join(e.data["content"] for e in chunks)
    done = events[-1].data
    assert text == done["text"] == answering
    assert set(done) == {
        "run_id",
        "script_id",
        "text",
        "provider",
        "model",
        "usage",
        "cost",
        "ttft_ms",
        "tokens_per_second",
        "duration_ms",
        "validation",
        "version",
        "notice",
    }
    assert done["notice"] is None, done["notice"]
    assert done["validation"]["passed"] is True and done["script_id"]
    stages = [e.data["stage"] for e in events if e.event == "progress"]
    assert stages == ["generating", "validating", "saving"]
    run = await Run.objects.aget(pk=events[0].data["run_id"])
    assert run.created_by_id == team.editor.pk and run.status == RunStatus.SUCCEEDED


async def test_non_streaming_route_waits_for_the_script(answering, team):
    client = await api_for(team.editor)
    response = await client.post("/api/v1/scripts", body(team))
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "succeeded" and data["text"] == answering
    assert data["usage"]["reported"] is True and data["usage"]["output_tokens"] > 0
    assert data["provider"] == "openai" and data["model"] == "gpt-4o-mini"
    assert data["result"]["validation"]["passed"] is True


async def test_per_user_limit_answers_429_with_retry_after(scripted_openai, team, settings):
    settings.AURA_MAX_STREAMS_PER_USER = 1
    scripted_openai.push(valid_script())
    running = await Run.objects.acreate(
        project=team.project, kind="script", created_by=team.editor, status="running"
    )
    client = await api_for(team.editor)

    response = await client.post("/api/v1/scripts/stream", body(team))

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "user_stream_limit"
    assert await Run.objects.acount() == 1
    other = await (await api_for(team.owner)).post("/api/v1/scripts/stream", body(team))
    assert other.status_code == 200
    await read_stream(other)
    assert (await Run.objects.aget(pk=running.pk)).status == "running"


async def test_bad_requests_get_field_details(team):
    client = await api_for(team.editor)
    cases = [
        (body(team, mood="sunny"), "mood"),
        (body(team, topic="no"), "topic"),
        (body(team, duration_seconds=5), "duration_seconds"),
        (body(team, key_points=[{"text": "x", "priority": "urgent"}]), "key_points.0.priority"),
        (body(team, template="nonesuch"), "template"),
    ]
    for payload, field in cases:
        response = await client.post("/api/v1/scripts/stream", payload)
        assert response.status_code == 400, payload
        details = response.json()["error"]["details"]
        assert field in [d["field"] for d in details], details
    response = await client.post("/api/v1/scripts/stream", body(team, provider="nonesuch"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_provider"
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
    assert await Run.objects.acount() == 0


async def test_streaming_disabled_still_streams_valid_sse(answering, team, settings):
    settings.AURA_STREAMING_ENABLED = False
    client = await api_for(team.editor)
    response = await client.post("/api/v1/scripts/stream", body(team))
    events, _ = parse_sse(await read_stream(response))
    chunks = [e for e in events if e.event == "chunk"]
    assert len(chunks) == 1 and chunks[0].data["content"] == events[-1].data["text"] == answering
    run = await Run.objects.aget(pk=events[0].data["run_id"])
    assert run.attempts[0]["streaming"] is False


async def test_a_quote_names_the_expected_cost_and_the_most_the_chain_may_spend(answering, team):
    from decimal import Decimal

    editor = await api_for(team.editor)
    quote = await editor.post("/api/v1/scripts/quote", body(team))
    assert quote.status_code == 200, quote.content
    figures = quote.json()
    expected, ceiling = Decimal(figures["expected_cost"]), Decimal(figures["cost_ceiling"])
    assert 0 < expected < ceiling  # the ceiling counts every token the call may produce
    assert (figures["provider"], figures["currency"]) == ("openai", "USD")
    offline = await editor.post("/api/v1/scripts/quote", body(team, provider="rulebased"))
    assert Decimal(offline.json()["expected_cost"]) == Decimal(offline.json()["cost_ceiling"]) == 0
    assert not await Run.objects.aexists()
    assert (await editor.post("/api/v1/scripts/quote", body(team, topic="ab"))).status_code == 400
    viewer = await api_for(team.viewer)
    assert (await viewer.post("/api/v1/scripts/quote", body(team))).status_code in (403, 404)

    finished = await editor.post("/api/v1/scripts", body(team))
    assert finished.status_code == 200, finished.content
    assert Decimal(finished.json()["expected_cost"]) == expected
    assert Decimal(finished.json()["cost_ceiling"]) == ceiling


async def test_money_is_written_in_plain_digits(team):
    """A free run's costs read in plain digits ("0.00000000"), never in Decimal's exponent
    form ("0E-8")."""
    from decimal import Decimal

    def plain(value: str) -> bool:
        return value.replace(".", "", 1).isdigit() and Decimal(value) == 0

    editor = await api_for(team.editor)
    finished = await editor.post("/api/v1/scripts", body(team, provider="rulebased"))
    assert finished.status_code == 200, finished.content
    run = finished.json()
    figures = [run["cost"], run["expected_cost"], run["cost_ceiling"]]
    figures += [part["cost"] for part in run["parts"]]
    script = await editor.get(f"/api/v1/scripts/{run['result']['script_id']}")
    assert script.status_code == 200, script.content
    figures += [script.json()["cost"], script.json()["versions"][0]["cost"]]
    assert all(plain(value) for value in figures), figures

    # The same in the event log a viewer replays (SSE and WebSocket send these payloads).
    from generation.runs.models import RunEvent

    def money_in(data: object) -> list[str]:
        found: list[str] = []
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str) and ("cost" in key or key == "price"):
                    found.append(value)
                else:
                    found += money_in(value)
        elif isinstance(data, list):
            for item in data:
                found += money_in(item)
        return found

    logged = [money_in(e.data) async for e in RunEvent.objects.filter(run_id=run["id"])]
    event_figures = [value for figures_of_one in logged for value in figures_of_one]
    assert event_figures, "the event log carries the run's costs"
    assert all(plain(value) for value in event_figures), event_figures
