"""The chair end to end, through the real API, run core and writer, against the loopback OpenAI
fake: notes that reach every later prompt, an agent's question that pauses the session (no task,
no claim, no request, no cost while it waits) until an editor answers or it times out, pins and
vetoes checked against the synthesis with one visible revision, cancel while paused, and who may
do what."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from generation.costs.models import CostRecord
from generation.runs import executions
from generation.runs.models import Run, RunEvent
from generation.runs.services import run_wait_ended
from roundtable.agents import AGENT_KEYS
from roundtable.chair import key_words, marks_check, points_of, question_parse
from roundtable.models import ChairQuestion, Session
from tests.api_client import api_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

ASKING = (
    "Open on the yellow oilskin coat glowing under sodium lamps. "
    "Finish with a drone flight circling the lighthouse beacon.\n"
    "QUESTION: Should the ship arrive before or after the sun sets?\n"
    "OPTIONS: Before sunset | After sunset | Right at sunset\n"
    "DEFAULT: After sunset"
)
PIN = "Open on the yellow oilskin coat glowing under sodium lamps."
VETO = "Finish with a drone flight circling the lighthouse beacon."


@pytest.fixture(autouse=True)
def patient(settings: Any) -> None:
    """These tests are about the chair, not load shedding: a machine shared with other work
    must not refuse their sessions."""
    settings.AURA_RUN_MAX_LOOP_LAG_MS = 10_000


def body(team: Any, **fields: Any) -> dict[str, Any]:
    return {
        "project": team.project.pk,
        "brief": "A thirty second film about a harbour pilot guiding a ship in at dusk.",
        "platform": "tiktok",
        "duration_seconds": 30,
        "provider": "openai",
        "debate": "never",
        **fields,
    }


async def start(team: Any, **fields: Any) -> tuple[int, str]:
    client = await api_for(team.editor)
    response = await client.post("/api/v1/roundtables", body(team, **fields))
    assert response.status_code == 202, response.content
    data = response.json()
    return data["id"], data["run_id"]


async def until(check: Callable[[], Any], within: float = 60.0) -> Any:
    """Wait (on the loop, a little at a time) until ``check()`` holds; its value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check() if asyncio.iscoroutinefunction(check) else check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"still not so after {within} s"
        await asyncio.sleep(0.05)


async def paused(run_id: str) -> Run:
    """The run once its pause is stored and the execution that stored it has let go of it."""

    async def check() -> Run | None:
        run = await Run.objects.aget(pk=run_id)
        assert run.is_active, (run.status, run.error_message)
        if run.wake_at is None or executions.is_held(run.pk):
            return None
        return run

    return await until(check)


async def events_of(run_id: str) -> list[RunEvent]:
    return [e async for e in RunEvent.objects.filter(run_id=run_id).order_by("seq")]


def prompt_of(request_body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in request_body.get("messages", []))


async def test_a_question_pauses_the_session_holding_nothing_until_an_editor_answers(table, team):
    table.say("director", ASKING)
    session_id, run_id = await start(team)
    run = await paused(run_id)

    # Paused: the question is out, and nothing of the session executes or is claimed.
    log = await events_of(run_id)
    asked = [e for e in log if e.event == "user_input_request"]
    assert len(asked) == 1 and asked[0].part == "director"
    request = asked[0].data
    assert set(request) == {"request_id", "agent", "question", "options", "default", "expires_at"}
    assert request["agent"] == "director"
    assert request["options"] == ["Before sunset", "After sunset", "Right at sunset"]
    assert request["default"] == "After sunset"
    stage = [e.data for e in log if e.event == "status"][-1]
    assert stage["stage"] == "waiting"
    assert not executions.is_held(run.pk) and executions.local_execution(run.pk) is None
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert not any(str(run.pk) in name for name in names), names
    assert run.lease_owner == "" and run.worker_id == "" and run.state["resume"] == "synthesis"
    requests_before = len(table.state.bodies)
    costs_before = [r.pk async for r in CostRecord.objects.filter(run_id=run_id)]
    await asyncio.sleep(1.0)
    assert len(table.state.bodies) == requests_before
    assert [r.pk async for r in CostRecord.objects.filter(run_id=run_id)] == costs_before
    assert (await Run.objects.aget(pk=run_id)).cost == run.cost
    assert [s for s in table.state.steps if s.startswith("synthesis")] == []

    # An editor answers: the session resumes at once, the answer in the next prompts.
    client = await api_for(team.editor)
    answer = await client.post(
        f"/api/v1/roundtables/{session_id}/answer",
        {"request_id": request["request_id"], "choice": "Right at sunset"},
    )
    assert answer.status_code == 200, answer.content
    ended = await run_wait_ended(run.pk, 60)
    assert ended.status == "succeeded", ended.error_message
    log = await events_of(run_id)
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    response = next(e for e in log if e.event == "user_input_response")
    assert response.data == {
        "request_id": request["request_id"],
        "agent": "director",
        "by": team.editor.username,
        "answer": "Right at sunset",
        "timed_out": False,
    }
    for step in ("synthesis", "shots"):
        (sent,) = table.requests_for(step)
        assert "Right at sunset" in prompt_of(sent), step
    # Nothing re-ran and nothing was billed twice: one call per analysis, one per later part.
    assert sorted(s for s in table.state.steps if s.startswith("analysis")) == sorted(
        f"analysis:{key}" for key in AGENT_KEYS
    )
    records = [r async for r in CostRecord.objects.filter(run_id=run_id)]
    assert sorted(r.part for r in records) == sorted([*AGENT_KEYS, "synthesis", "shots"])
    assert sum(r.cost for r in records) == ended.cost
    # A second answer is refused: the question is closed.
    again = await client.post(
        f"/api/v1/roundtables/{session_id}/answer",
        {"request_id": request["request_id"], "choice": "Before sunset"},
    )
    assert again.status_code == 409
    saved = (await client.get(f"/api/v1/roundtables/{session_id}")).json()
    assert saved["chair"]["questions"][0]["answer"] == "Right at sunset"


async def test_an_unanswered_question_times_out_and_the_default_stands(table, team, settings):
    settings.AURA_CHAIR_ANSWER_MINUTES = 0.01
    table.say("colorist", ASKING)
    _, run_id = await start(team)
    ended = await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)
    assert ended.status == "succeeded", ended.error_message
    log = await events_of(run_id)
    response = next(e for e in log if e.event == "user_input_response").data
    assert response["timed_out"] is True and response["by"] is None
    assert response["answer"] == "After sunset"
    said = [e.data["message"] for e in log if e.event == "status"]
    assert any("No answer from the chair in time" in m and "After sunset" in m for m in said)
    (sent,) = table.requests_for("synthesis")
    assert "nobody answered in time" in prompt_of(sent) and "After sunset" in prompt_of(sent)
    question = await ChairQuestion.objects.aget(agent="colorist")
    assert question.timed_out and question.answered_by_id is None


async def test_notes_reach_every_prompt_built_after_them_and_everyone_sees_them(table, team):
    table.say("director", ASKING)
    table.behave("editor", first_token_delay=1.5)
    session_id, run_id = await start(team)
    client = await api_for(team.editor)
    first = await client.post(
        f"/api/v1/roundtables/{session_id}/notes", {"text": "No drone shots at all"}
    )
    assert first.status_code == 200, first.content
    # While it runs, the session's executor writes the note to the log.
    await until(lambda: RunEvent.objects.filter(run_id=run_id, event="chair_note").exists())
    run = await paused(run_id)
    # While it is paused, the request writes it.
    second = await client.post(
        f"/api/v1/roundtables/{session_id}/notes", {"text": "Keep it under 20 seconds"}
    )
    assert second.status_code == 200
    notes = [e async for e in RunEvent.objects.filter(run_id=run_id, event="chair_note")]
    assert [n.data["text"] for n in notes] == ["No drone shots at all", "Keep it under 20 seconds"]
    assert set(notes[0].data) == {"id", "by", "text", "at"}
    assert notes[0].data["by"] == team.editor.username
    question = await ChairQuestion.objects.aget(agent="director")
    await client.post(
        f"/api/v1/roundtables/{session_id}/answer",
        {"request_id": str(question.request_id), "text": "Let the sun touch the sea"},
    )
    ended = await run_wait_ended(run.pk, 60)
    assert ended.status == "succeeded"
    for step in ("synthesis", "shots"):
        (sent,) = table.requests_for(step)
        text = prompt_of(sent)
        assert "No drone shots at all" in text and "Keep it under 20 seconds" in text, step
    (director,) = table.requests_for("analysis:director")
    assert "No drone shots" not in prompt_of(director)
    # The replay (the stored log through the SSE route) has them too.
    viewer = await api_for(team.viewer)
    stream = await viewer.get(f"/api/v1/runs/{run_id}/events")
    raw = b"".join([chunk async for chunk in stream.streaming_content]).decode()
    assert raw.count("event: chair_note") == 2 and "event: user_input_response" in raw
    saved = (await viewer.get(f"/api/v1/roundtables/{session_id}")).json()
    assert [n["text"] for n in saved["chair"]["notes"]] == [
        "No drone shots at all",
        "Keep it under 20 seconds",
    ]
    closed = await client.post(f"/api/v1/roundtables/{session_id}/notes", {"text": "Too late"})
    assert closed.status_code == 409


async def test_a_pin_and_a_veto_the_synthesis_breaks_cause_one_visible_revision(table, team):
    table.say("director", ASKING)
    table.say(
        "synthesis",
        "A pilot boat at dusk; finish with a drone flight circling the lighthouse beacon.",
        "Open on a yellow oilskin coat glowing under sodium lamps; the pilot boat at dusk.",
    )
    session_id, run_id = await start(team)
    await paused(run_id)
    client = await api_for(team.editor)
    pin = await client.post(
        f"/api/v1/roundtables/{session_id}/pins", {"agent": "director", "point": PIN}
    )
    assert pin.status_code == 200, pin.content
    veto = await client.post(
        f"/api/v1/roundtables/{session_id}/vetoes", {"agent": "director", "point": VETO}
    )
    assert veto.status_code == 200
    stranger = await client.post(
        f"/api/v1/roundtables/{session_id}/pins", {"agent": "director", "point": "Not said"}
    )
    assert stranger.status_code == 400
    question = await ChairQuestion.objects.aget(agent="director")
    await client.post(
        f"/api/v1/roundtables/{session_id}/answer",
        {"request_id": str(question.request_id), "choice": "After sunset"},
    )
    ended = await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)
    assert ended.status == "succeeded", ended.error_message
    log = await events_of(run_id)
    names = [e.event for e in log]
    assert names.count("chair_pin") == 1 and names.count("chair_veto") == 1
    pinned = next(e for e in log if e.event == "chair_pin").data
    assert pinned["agent"] == "director" and pinned["text"] == PIN
    checks = [e.data for e in log if e.event == "chair_check"]
    assert checks == [
        {"ok": False, "missing": [PIN], "present": [VETO], "revision": 0},
        {"ok": True, "missing": [], "present": [], "revision": 1},
    ]
    resets = [e for e in log if e.event == "status" and e.data["stage"] == "reset"]
    assert len(resets) == 1 and resets[0].part == "synthesis" and resets[0].data["text"] == ""
    after = [e for e in log if e.seq > resets[0].seq and e.event == "synthesis_chunk"]
    final = next(e for e in log if e.event == "synthesis_complete").data["final_prompt"]
    assert "".join(e.data["content"] for e in after) == final
    assert final.startswith("Open on a yellow oilskin coat")
    first, revision = table.requests_for("synthesis")
    assert PIN in prompt_of(first) and VETO in prompt_of(first)
    assert "Missing (add them)" in prompt_of(revision)
    records = [r async for r in CostRecord.objects.filter(run_id=run_id, part="synthesis")]
    assert len(records) == 2 and all(r.cost > 0 for r in records)
    session = await Session.objects.aget(pk=session_id)
    assert session.synthesis == final


async def test_cancel_while_paused_ends_the_session(table, team):
    table.say("director", ASKING)
    session_id, run_id = await start(team)
    await paused(run_id)
    client = await api_for(team.editor)
    response = await client.post(f"/api/v1/runs/{run_id}/cancel")
    assert response.status_code == 200
    ended = await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)
    assert ended.status == "cancelled"
    session = await Session.objects.aget(pk=session_id)
    assert session.status == "cancelled"
    assert [s for s in table.state.steps if s.startswith("synthesis")] == []


async def test_every_chair_action_needs_a_member_and_an_editor(table, team):
    table.say("director", ASKING)
    session_id, run_id = await start(team)
    await paused(run_id)
    question = await ChairQuestion.objects.aget(agent="director")
    actions = [
        ("notes", {"text": "A note"}),
        ("pins", {"agent": "director", "point": PIN}),
        ("vetoes", {"agent": "director", "point": VETO}),
        ("answer", {"request_id": str(question.request_id), "choice": "After sunset"}),
    ]
    outsider, viewer = await api_for(team.outsider), await api_for(team.viewer)
    for route, payload in actions:
        url = f"/api/v1/roundtables/{session_id}/{route}"
        assert (await outsider.post(url, payload)).status_code == 404, route
        assert (await viewer.post(url, payload)).status_code == 403, route
    assert not await RunEvent.objects.filter(
        run_id=run_id, event__in=["chair_note", "chair_pin", "chair_veto", "user_input_response"]
    ).aexists()
    # The pages' forms: the same rules.
    from django.test import Client

    pages = {
        "notes": {"text": "A note"},
        "marks": {"kind": "pin", "agent": "director", "point": PIN},
        "answer": {"request_id": str(question.request_id), "choice": "After sunset"},
    }
    for who, status in ((team.outsider, 404), (team.viewer, 403)):
        browser = Client()
        await asyncio.to_thread(browser.force_login, who)
        for route, payload in pages.items():
            url = f"/projects/{team.project.pk}/roundtables/{session_id}/chair/{route}/"
            response = await asyncio.to_thread(browser.post, url, payload)
            assert response.status_code == status, (who, route)
    editor = await api_for(team.editor)
    for route, payload in actions:
        response = await editor.post(f"/api/v1/roundtables/{session_id}/{route}", payload)
        assert response.status_code == 200, (route, response.content)
    ended = await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)
    assert ended.status == "succeeded"


# ---- the parsing and the check ---------------------------------------------------------------


def test_a_question_is_read_from_the_end_of_an_analysis_and_malformed_ones_are_ignored():
    found = question_parse(ASKING)
    assert found is not None
    assert found.question == "Should the ship arrive before or after the sun sets?"
    assert found.options == ["Before sunset", "After sunset", "Right at sunset"]
    assert found.default == "After sunset"
    loose = question_parse(
        "Text.\n**Question:** Warm or cold?\n- Options: a) Warm; b) Cold\nDefault: something else"
    )
    assert loose is not None and loose.options == ["Warm", "Cold"] and loose.default == "Warm"
    assert question_parse("QUESTION: Warm or cold?\nOPTIONS: Warm") is None
    assert question_parse("QUESTION: Warm or cold?\nOPTIONS: a | b | c | d | e") is None
    assert question_parse("QUESTION: ?\nOPTIONS: a | b") is None
    assert question_parse("Options: a | b") is None
    assert question_parse("") is None


def test_points_and_the_pin_and_veto_rule():
    assert points_of(ASKING) == [PIN, VETO]
    assert points_of("- Cut on the beat every second\n- Hold the last frame") == [
        "Cut on the beat every second",
        "Hold the last frame",
    ]
    brief = "A film about a harbour at dusk"
    assert "harbour" not in key_words("The harbour glows", brief)
    check = marks_check("Yellow oilskin coat under sodium lamps.", [PIN], [VETO], brief)
    assert check.ok
    check = marks_check("A drone flight circling the beacon.", [PIN], [VETO], brief)
    assert check.missing == [PIN] and check.present == [VETO] and not check.ok


# ---- re-running one part ---------------------------------------------------------------------


async def test_a_rerun_of_one_agent_calls_the_provider_once_and_bills_only_that_call(table, team):
    session_id, run_id = await start(team)
    first = await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)
    assert first.status == "succeeded"
    original = sorted([r.pk async for r in CostRecord.objects.filter(run_id=run_id)])
    client = await api_for(team.editor)
    saved = (await client.get(f"/api/v1/roundtables/{session_id}")).json()
    assert {key: [v["number"] for v in vs] for key, vs in saved["versions"].items()} == {
        **{key: [1] for key in AGENT_KEYS},
        "synthesis": [1],
        "shots": [1],
    }
    assert saved["synthesis_stale"] == []

    steps_before = list(table.state.steps)
    table.say("director", "A new reading of the brief: the pilot's hands first, then the bow.")
    started = await client.post(
        f"/api/v1/roundtables/{session_id}/rerun",
        {"part": "director", "provider": "openai", "note": "Start on the pilot's hands"},
    )
    assert started.status_code == 202, started.content
    rerun_id = started.json()["run_id"]
    assert rerun_id != run_id and started.json()["parts"] == ["director"]
    busy = await client.post(f"/api/v1/roundtables/{session_id}/rerun", {"part": "editor"})
    assert busy.status_code == 409
    rerun = await run_wait_ended((await Run.objects.aget(pk=rerun_id)).pk, 60)
    assert rerun.status == "succeeded", rerun.error_message
    assert table.state.steps[len(steps_before) :] == ["analysis:director"]
    (request,) = table.requests_for("analysis:director")[1:]
    assert "Start on the pilot's hands" in prompt_of(request)
    records = [r async for r in CostRecord.objects.filter(run_id=rerun_id)]
    assert [r.part for r in records] == ["director"] and records[0].cost > 0
    assert records[0].correlation_id == rerun.correlation_id != first.correlation_id
    assert sorted([r.pk async for r in CostRecord.objects.filter(run_id=run_id)]) == original
    log = [e.event for e in await events_of(rerun_id)]
    assert log[0] == "run" and "agent_complete" in log and log[-1] == "done"

    saved = (await client.get(f"/api/v1/roundtables/{session_id}")).json()
    director = saved["versions"]["director"]
    assert [(v["number"], v["current"]) for v in director] == [(2, True), (1, False)]
    assert director[0]["asked_by"] == team.editor.username
    assert director[0]["note"] == "Start on the pilot's hands"
    assert Decimal(director[0]["cost"]) == records[0].cost and director[0]["run_id"] == rerun_id
    assert director[0]["text"].startswith("A new reading of the brief")
    assert saved["agents"][0]["text"] == director[0]["text"]
    assert saved["synthesis_stale"] == ["director"]
    assert [v["number"] for v in saved["versions"]["synthesis"]] == [1]

    # The synthesis on the new analysis: it and the shot list run again, nothing else.
    table.say("synthesis", "The pilot's hands on the wheel, then the bow cutting the dusk.")
    steps_before = list(table.state.steps)
    again = await client.post(f"/api/v1/roundtables/{session_id}/rerun", {"part": "synthesis"})
    assert again.status_code == 202 and again.json()["parts"] == ["synthesis", "shots"]
    second = await run_wait_ended((await Run.objects.aget(pk=again.json()["run_id"])).pk, 60)
    assert second.status == "succeeded", second.error_message
    assert table.state.steps[len(steps_before) :] == ["synthesis", "shots"]
    (sent,) = table.requests_for("synthesis")[1:]
    assert "A new reading of the brief" in prompt_of(sent)
    parts = sorted([r.part async for r in CostRecord.objects.filter(run_id=second.pk)])
    assert parts == ["shots", "synthesis"]
    saved = (await client.get(f"/api/v1/roundtables/{session_id}")).json()
    assert saved["synthesis_stale"] == []
    assert saved["synthesis"] == "The pilot's hands on the wheel, then the bow cutting the dusk."
    assert [v["number"] for v in saved["versions"]["shots"]] == [2, 1]


async def test_a_rerun_needs_a_member_and_an_editor_and_a_finished_session(table, team):
    table.say("director", ASKING)
    session_id, run_id = await start(team)
    await paused(run_id)
    editor = await api_for(team.editor)
    live = await editor.post(f"/api/v1/roundtables/{session_id}/rerun", {"part": "director"})
    assert live.status_code == 409
    await editor.post(f"/api/v1/runs/{run_id}/cancel")
    await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)
    outsider, viewer = await api_for(team.outsider), await api_for(team.viewer)
    url = f"/api/v1/roundtables/{session_id}/rerun"
    assert (await outsider.post(url, {"part": "director"})).status_code == 404
    assert (await viewer.post(url, {"part": "director"})).status_code == 403
    assert (await editor.post(url, {"part": "nobody"})).status_code == 400
    from django.test import Client

    for who, status in ((team.outsider, 404), (team.viewer, 403)):
        browser = Client()
        await asyncio.to_thread(browser.force_login, who)
        page = f"/projects/{team.project.pk}/roundtables/{session_id}/rerun/"
        response = await asyncio.to_thread(browser.post, page, {"part": "director"})
        assert response.status_code == status


async def test_a_rerun_of_the_debate_calls_and_bills_only_the_debate_and_the_parts_after_it(
    table, team
):
    session_id, run_id = await start(team, debate="always")
    first = await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)
    assert first.status == "succeeded", first.error_message
    original = sorted([r.pk async for r in CostRecord.objects.filter(run_id=run_id)])
    client = await api_for(team.editor)
    saved = (await client.get(f"/api/v1/roundtables/{session_id}")).json()
    assert [v["number"] for v in saved["versions"]["debate"]] == [1]

    steps_before = list(table.state.steps)
    table.say("synthesis", "The pilot answers the bow's question in one steady turn.")
    started = await client.post(f"/api/v1/roundtables/{session_id}/rerun", {"part": "debate"})
    assert started.status_code == 202, started.content
    assert started.json()["parts"] == ["debate", "synthesis", "shots"]
    rerun = await run_wait_ended((await Run.objects.aget(pk=started.json()["run_id"])).pk, 60)
    assert rerun.status == "succeeded", rerun.error_message

    # At the fake provider: the debate's two turns, then the synthesis and the shot list; no
    # analysis and no judging call.
    assert table.state.steps[len(steps_before) :] == ["question", "answer", "synthesis", "shots"]
    (sent,) = table.requests_for("synthesis")[1:]
    assert "question-1" in prompt_of(sent) and "answer-1" in prompt_of(sent)
    # In the ledger: the re-run's calls only, each tagged with its part; the session's own
    # records are untouched.
    parts = sorted([r.part async for r in CostRecord.objects.filter(run_id=rerun.pk)])
    assert parts == ["debate", "debate", "shots", "synthesis"]
    assert sorted([r.pk async for r in CostRecord.objects.filter(run_id=run_id)]) == original

    saved = (await client.get(f"/api/v1/roundtables/{session_id}")).json()
    assert [v["number"] for v in saved["versions"]["debate"]] == [2, 1]
    assert [v["number"] for v in saved["versions"]["synthesis"]] == [2, 1]
    assert [v["number"] for v in saved["versions"]["shots"]] == [2, 1]
    assert all(saved["versions"][k][0]["current"] for k in ("debate", "synthesis", "shots"))
    assert {key: [v["number"] for v in saved["versions"][key]] for key in AGENT_KEYS} == {
        key: [1] for key in AGENT_KEYS
    }
    assert saved["synthesis_stale"] == []
    assert saved["synthesis"] == "The pilot answers the bow's question in one steady turn."
    rerun_parts = ("debate", "synthesis", "shots")
    billed = sum(Decimal(saved["versions"][key][0]["cost"]) for key in rerun_parts)
    assert billed == sum([r.cost async for r in CostRecord.objects.filter(run_id=rerun.pk)])


async def test_the_replay_has_the_chair_and_the_reruns_in_order_with_the_agents_lines(table, team):
    from django.test import Client

    table.say("director", ASKING, "The pilot's hands first, then the bow.")
    session_id, run_id = await start(team)
    client = await api_for(team.editor)
    await paused(run_id)
    await client.post(f"/api/v1/roundtables/{session_id}/notes", {"text": "No <b>drone</b> shots"})
    await client.post(f"/api/v1/roundtables/{session_id}/pins", {"agent": "director", "point": PIN})
    question = await ChairQuestion.objects.aget(agent="director")
    await client.post(
        f"/api/v1/roundtables/{session_id}/answer",
        {"request_id": str(question.request_id), "choice": "Right at sunset"},
    )
    assert (await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)).status == "succeeded"
    started = await client.post(
        f"/api/v1/roundtables/{session_id}/rerun", {"part": "director", "note": "Hands first"}
    )
    rerun = await run_wait_ended((await Run.objects.aget(pk=started.json()["run_id"])).pk, 60)
    assert rerun.status == "succeeded", rerun.error_message

    viewer = Client()
    await asyncio.to_thread(viewer.force_login, team.viewer)
    url = f"/projects/{team.project.pk}/roundtables/{session_id}/events.json"
    replay = (await asyncio.to_thread(viewer.get, url)).json()
    names = [item["event"] for item in replay["events"]]
    chair = [n for n in names if n.startswith(("chair_", "user_input")) or n == "rerun"]
    assert chair[:4] == ["user_input_request", "chair_note", "chair_pin", "user_input_response"]
    # The check of the pin (and of the revision it caused), then the re-run.
    assert set(chair[4:-1]) == {"chair_check"} and chair[-1] == "rerun"
    # In the order they happened with the agents' words: the question after the Director's
    # analysis, the answer before the synthesis, the re-run (and its words) after the session.
    assert names.index("user_input_request") > max(
        i for i, n in enumerate(names) if n == "agent_chunk" and i < names.index("done")
    )
    assert names.index("user_input_response") < names.index("synthesis_chunk")
    assert names.index("done") < names.index("rerun")
    after = replay["events"][names.index("rerun") :]
    assert after[0]["data"] == {"parts": ["director"]}
    assert "".join(e["data"].get("content", "") for e in after if e["event"] == "agent_chunk") == (
        "The pilot's hands first, then the bow."
    )
    assert all(e["event"] not in ("run", "done", "status") for e in after)
    assert [e["at_ms"] for e in replay["events"]] == sorted(e["at_ms"] for e in replay["events"])
    # Every chair item carries its line of the log, drawn (and escaped) by the studio.
    lines = {e["event"]: e["html"] for e in replay["events"] if "html" in e}
    assert "No &lt;b&gt;drone&lt;/b&gt; shots" in lines["chair_note"]
    assert "answered the Director" in lines["user_input_response"]
    assert "re-ran the Director" in lines["rerun"] and "Hands first" in lines["rerun"]
    # After a reload the chair's log on the page is the same, the re-run last.
    page = (await asyncio.to_thread(viewer.get, url.replace("events.json", ""))).content.decode()
    order = [page.index(f'data-event="{name}"') for name in dict.fromkeys(chair)]
    assert order == sorted(order)


async def test_rulebased_asks_the_chair_when_the_brief_leaves_the_time_of_day_open(team):
    """With no key set up, the offline agents ask when the brief leaves a real choice open, so
    the chair can be tried on the embedded defaults."""
    session_id, run_id = await start(
        team, provider="rulebased", brief="A lighthouse keeper's last watch, at dawn or at night."
    )
    await paused(run_id)
    (asked,) = [e.data for e in await events_of(run_id) if e.event == "user_input_request"]
    assert asked["agent"] == "cinematographer"
    assert asked["options"] == ["Dawn", "Night"] and asked["default"] == "Dawn"
    assert "time of day" in asked["question"]
    client = await api_for(team.editor)
    answer = await client.post(
        f"/api/v1/roundtables/{session_id}/answer",
        {"request_id": asked["request_id"], "choice": "Night"},
    )
    assert answer.status_code == 200, answer.content
    ended = await run_wait_ended((await Run.objects.aget(pk=run_id)).pk, 60)
    assert ended.status == "succeeded", ended.error_message
    (response,) = [e.data for e in await events_of(run_id) if e.event == "user_input_response"]
    assert response["answer"] == "Night" and not response["timed_out"]

    # A brief that names its time of day (or none) leaves nothing to ask.
    _, settled = await start(team, provider="rulebased", brief="A lighthouse keeper at dawn.")
    done = await run_wait_ended((await Run.objects.aget(pk=settled)).pk, 60)
    assert done.status == "succeeded", done.error_message
    assert not [e for e in await events_of(settled) if e.event == "user_input_request"]
