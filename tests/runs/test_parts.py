"""Several parts of one run streaming at once: a test kind of three parallel parts, one of them
failing mid-stream, followed over SSE and the WebSocket; a reconnect rebuilds every part at
once; per-part time limits; a cancel stops every part's upstream and bills what each made."""

from __future__ import annotations

import asyncio
import html
import re
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from aura_site.asgi import application
from generation.costs.models import CostRecord
from generation.providers.base import CompletionRequest
from generation.runs.context import RunContext
from generation.runs.kinds import KindSpec, PartEvents, PartSpec, registered
from generation.runs.models import Run, RunEvent, RunPart, RunStatus
from generation.runs.services import run_cancel
from generation.runs.streams import follow_run
from tests.fakes.providers import (
    SSE_HEADERS,
    FakeProviderServer,
    Pause,
    Reply,
    anthropic_error_event,
    anthropic_events,
)
from tests.runs.conftest import ORIGIN, session_cookie, stored_events, wait_ended
from tests.runs.kinds import probe_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

TRIO = ("a", "b", "c")
PROVIDERS = {"a": "openai", "b": "anthropic", "c": "openai"}


def part_chunk(part: Any, content: str) -> dict[str, Any]:
    return {"part": part.key, "content": content, "tokens": part.output_tokens}


async def trio_handler(ctx: RunContext) -> dict[str, Any]:
    await ctx.progress("working", "Three at once")
    limits = ctx.run.input.get("limits", {})
    providers = {**PROVIDERS, **ctx.run.input.get("providers", {})}

    async def one(key: str) -> str:
        part = ctx.part(key)
        await part.emit("part_start", {"part": key})
        result = await part.stream_llm(
            CompletionRequest.from_prompt(f"Write part {key}"),
            provider=providers[key],
            **limits.get(key, {}),
        )
        await part.emit("part_done", {"part": key, "text": result.text})
        return result.text

    results = await ctx.parallel({key: one(key) for key in TRIO})
    return {"finished": sorted(key for key, value in results.items() if isinstance(value, str))}


TRIO_KIND = KindSpec(
    name="trio",
    label="Trio",
    handler=trio_handler,
    parts=tuple(PartSpec(key, f"Part {key}") for key in TRIO),
    text_part=None,
    part_events={"*": PartEvents(chunk="part_chunk", chunk_data=part_chunk)},
    stage_event="status",
)


@pytest.fixture
def trio() -> Any:
    with registered(TRIO_KIND):
        yield TRIO_KIND


@pytest.fixture
def failing_anthropic(settings: Any) -> Any:
    """Anthropic streams a few words, slowly, then fails with an overloaded error."""
    from generation.providers import registry

    with FakeProviderServer() as fake:
        events = anthropic_events(["Bee ", "buzz ", "bee "], stop=False)
        steps: list[Any] = []
        for event in events[:-2]:
            steps.extend([event, Pause(0.15)])
        steps.append(anthropic_error_event("overloaded_error", "Overloaded"))
        fake.push(Reply(200, dict(SSE_HEADERS), steps))
        providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
        providers["anthropic"] = {
            **providers["anthropic"],
            "OPTIONS": {"api_key": "sk-ant", "base_url": fake.base_url, "model": "claude"},
        }
        settings.LLM_PROVIDERS = providers
        registry.reset()
        yield fake
        registry.reset()


def texts_by_part(events: list[tuple[int, str, dict[str, Any]]]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for _, event, data in events:
        if event == "part_chunk":
            texts[data["part"]] = texts.get(data["part"], "") + data["content"]
    return texts


class PartsView:
    """What htmx's ws extension would show of each part's text."""

    def __init__(self, dom_id: str) -> None:
        self.dom_id = dom_id
        self.texts: dict[str, str] = {}
        self.appends: dict[str, int] = {}
        self.status = ""

    def apply(self, message: str) -> None:
        pattern = re.compile(
            r'<div id="' + re.escape(self.dom_id) + r'-([a-z]+)-text"([^>]*)>(.*?)</div>', re.S
        )
        status = re.search(
            r'<section id="' + re.escape(self.dom_id) + r'"[^>]*data-status="(\w+)"', message
        )
        if status:
            self.status = status.group(1)
        for key, attributes, content in pattern.findall(message):
            value = html.unescape(content)
            if 'hx-swap-oob="beforeend"' in attributes:
                self.texts[key] = self.texts.get(key, "") + value
                self.appends[key] = self.appends.get(key, 0) + 1
            else:
                self.texts[key] = value


async def connect(user: Any, run: Run) -> WebsocketCommunicator:
    headers = [ORIGIN, (b"cookie", await session_cookie(user))]
    communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
    assert (await communicator.connect())[0]
    return communicator


async def follow_socket(communicator: WebsocketCommunicator, view: PartsView) -> list[str]:
    messages: list[str] = []
    while True:
        output = await communicator.receive_output(timeout=20)
        if output["type"] == "websocket.close":
            return messages
        messages.append(output["text"])
        view.apply(output["text"])


async def test_three_parts_stream_at_once_and_one_failing_leaves_the_others(
    fake_openai, failing_anthropic, trio, team
):
    fake_openai.configure(tokens=40, tokens_per_second=40.0, piece="ok ")
    run = await probe_start_async(team, kind="trio")
    follower = asyncio.create_task(_collect(follow_run(run.pk)))
    watcher = await connect(team.viewer, run)
    live = PartsView(run.dom_id)
    watching = asyncio.create_task(follow_socket(watcher, live))

    # A second viewer arrives mid-run: its first message rebuilds every part at once.
    while await _chunks_of(run, "a") < 3 or await _chunks_of(run, "b") < 1:
        await asyncio.sleep(0.02)
    late = await connect(team.owner, run)
    snapshot = PartsView(run.dom_id)
    snapshot.apply(await late.receive_from(timeout=10))
    late_view = PartsView(run.dom_id)
    late_view.texts = dict(snapshot.texts)
    late_watching = asyncio.create_task(follow_socket(late, late_view))

    run = await wait_ended(run)
    followed = await follower
    await asyncio.wait_for(asyncio.gather(watching, late_watching), 20)

    events = await stored_events(run)
    parts = {part.key: part async for part in RunPart.objects.filter(run=run)}
    texts = texts_by_part(events)
    # The run ends well with the analyses that arrived; the failed part keeps its text.
    assert run.status == RunStatus.SUCCEEDED
    assert events[-1][2]["finished"] == ["a", "c"]
    assert parts["a"].status == parts["c"].status == "succeeded"
    assert parts["b"].status == "failed" and parts["b"].error_code == "overloaded"
    assert parts["a"].text == parts["c"].text == "ok " * 40
    assert parts["b"].text == "Bee buzz bee " and texts["b"] == parts["b"].text
    assert texts["a"] == parts["a"].text and texts["c"] == parts["c"].text
    # Their chunks interleave: b streamed while a and c did, and a and c overlapped.
    seqs = {
        key: [s for s, e, d in events if e == "part_chunk" and d["part"] == key] for key in TRIO
    }
    assert seqs["a"][0] < seqs["b"][-1] < seqs["a"][-1]
    assert seqs["c"][0] < seqs["a"][-1] and seqs["a"][0] < seqs["c"][-1]
    # Every event is tagged with its part; run-level events carry none.
    tagged = [
        (event, part, data)
        async for event, part, data in RunEvent.objects.filter(run=run).values_list(
            "event", "part", "data"
        )
    ]
    for event, part, data in tagged:
        if event in ("part_start", "part_chunk", "part_done"):
            assert part == data["part"], (event, part, data)
        elif event in ("run", "status", "done"):
            assert part == "", (event, part)
    assert {part for event, part, _ in tagged if event == "provider_switch"} <= set(TRIO)
    # Money: each part's tokens and cost, one ledger record per part, the run's total.
    records = [r async for r in CostRecord.objects.filter(run_id=str(run.pk))]
    assert sorted(r.part for r in records) == ["a", "b", "c"]
    assert {r.part: r.cost for r in records} == {key: parts[key].cost for key in TRIO}
    assert run.cost == sum((parts[key].cost for key in TRIO), Decimal("0"))
    assert run.output_tokens == sum(parts[key].output_tokens for key in TRIO)
    # SSE: the whole log in order; the WebSocket viewers: every part's text, live or rebuilt.
    assert [e.seq for e in followed] == [seq for seq, _, _ in events]
    assert live.status == late_view.status == "succeeded"
    for key in TRIO:
        assert live.texts[key] == late_view.texts[key] == parts[key].text
        assert live.appends.get(key, 0) >= 1
    assert snapshot.texts["a"] and parts["a"].text.startswith(snapshot.texts["a"])
    assert parts["b"].text.startswith(snapshot.texts["b"])


async def test_a_part_over_its_time_limit_is_timed_out_with_its_text(fake_openai, trio, team):
    fake_openai.configure(tokens=200, tokens_per_second=50.0, piece="ok ")
    limits = {"b": {"time_limit": 0.5}}
    run = await probe_start_async(team, kind="trio", limits=limits, providers={"b": "openai"})
    run = await wait_ended(run)

    parts = {part.key: part async for part in RunPart.objects.filter(run=run)}
    assert run.status == RunStatus.SUCCEEDED
    assert parts["b"].status == "timed_out" and parts["b"].error_code == "timeout"
    assert "0.5 seconds" in parts["b"].error_message
    assert 0 < len(parts["b"].text) < len("ok " * 200)
    assert parts["a"].status == "succeeded" and parts["a"].text == "ok " * 200
    records = {r.part: r async for r in CostRecord.objects.filter(run_id=str(run.pk))}
    assert records["b"].outcome == "cancelled" and records["b"].output_tokens > 0
    assert records["b"].cost == parts["b"].cost > 0


async def test_no_first_word_in_time_times_the_part_out(fake_openai, trio, team, settings):
    fake_openai.configure(tokens=5, tokens_per_second=50.0, first_token_delay=0.6)
    run = await probe_start_async(
        team, kind="trio", limits={key: {"first_token_limit": 0.2} for key in ("a", "c")}
    )
    run = await wait_ended(run)
    parts = {part.key: part async for part in RunPart.objects.filter(run=run)}
    assert parts["a"].status == parts["c"].status == "timed_out"
    assert "No first word within 0.2 seconds" in parts["a"].error_message
    assert parts["a"].text == ""


async def test_cancel_stops_every_part_and_bills_each_what_it_made(
    fake_openai, trio, team, settings
):
    from generation.providers import registry

    providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
    providers["anthropic"] = {
        **providers["anthropic"],
        "OPTIONS": {**providers["openai"]["OPTIONS"], "api_key": "sk-test"},
        "BACKEND": providers["openai"]["BACKEND"],
    }
    settings.LLM_PROVIDERS = providers
    registry.reset()
    fake_openai.configure(tokens=400, tokens_per_second=40.0, piece="ok ")
    run = await probe_start_async(team, kind="trio")
    while any([await _chunks_of(run, key) < 2 for key in TRIO]):
        await asyncio.sleep(0.02)

    cancelled = await run_cancel(team.editor, run.pk)

    assert cancelled.status == RunStatus.CANCELLED
    assert fake_openai.wait_for_disconnects(3)
    parts = {part.key: part async for part in RunPart.objects.filter(run=run)}
    records = {r.part: r async for r in CostRecord.objects.filter(run_id=str(run.pk))}
    for key in TRIO:
        assert parts[key].status == "cancelled"
        assert 0 < len(parts[key].text) < len("ok " * 400)
        assert records[key].outcome == "cancelled"
        assert records[key].output_tokens == parts[key].output_tokens > 0
        assert records[key].cost == parts[key].cost > 0
    assert cancelled.cost == sum((parts[key].cost for key in TRIO), Decimal("0"))
    events = await stored_events(cancelled)
    assert events[-1][1] == "cancelled"


async def probe_start_async(team: Any, **fields: Any) -> Run:
    return await sync_to_async(probe_start)(team.editor, team.project, **fields)


async def _chunks_of(run: Run, part: str) -> int:
    return await RunEvent.objects.filter(run_id=run.pk, part=part, event="part_chunk").acount()


async def _collect(stream: Any) -> list[Any]:
    return [event async for event in stream if event is not None]
