"""The live view over /ws/runs/<id>/ through the real ASGI application (htmx ws fragments)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from aura_site.asgi import application
from generation.runs.models import Run, RunStatus
from generation.runs.streams import follow_run
from tests.runs.conftest import (
    ORIGIN,
    PanelView,
    chunk_text,
    session_cookie,
    start_probe,
    stored_events,
    wait_ended,
    wait_for_chunks,
)
from tests.runs.lossy_layer import LossyChannelLayer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("server_loop"),
]


async def connect(user: Any, run: Run) -> WebsocketCommunicator:
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    return WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)


async def follow(communicator: WebsocketCommunicator, view: PanelView) -> tuple[list[str], int]:
    """Apply every message until the server closes; returns the messages and the close code."""
    messages: list[str] = []
    while True:
        output = await communicator.receive_output(timeout=20)
        if output["type"] == "websocket.close":
            return messages, output.get("code", 1000)
        messages.append(output["text"])
        view.apply(output["text"])


async def test_anonymous_and_strangers_are_refused(fake_openai, team):
    run = await start_probe(team.editor, team.project)
    communicator = await connect(None, run)
    assert await communicator.connect() == (False, 4401)
    communicator = await connect(team.outsider, run)
    assert await communicator.connect() == (False, 4404)
    await wait_ended(run)


async def test_a_member_sees_the_snapshot_then_the_text_grow_then_the_final_panel(
    fake_openai, team
):
    fake_openai.configure(tokens=80, tokens_per_second=80.0)
    run = await start_probe(team.editor, team.project)
    await wait_for_chunks(run, 2)
    communicator = await connect(team.viewer, run)
    connected, _ = await communicator.connect()
    assert connected
    view = PanelView(run.dom_id)

    first = await communicator.receive_from(timeout=10)
    view.apply(first)
    assert f'<section id="{run.dom_id}"' in first
    assert view.text.startswith("tok ") and len(view.text) < len("tok " * 80)
    assert 'data-testid="run-cancel"' not in first
    messages, code = await follow(communicator, view)

    run = await Run.objects.aget(pk=run.pk)
    assert code == 1000
    assert view.text == run.text == "tok " * 80
    assert view.appends >= 3
    assert view.status == "succeeded" and view.panels == 2
    final = messages[-1]
    for metric in ("tokens", "tokens_per_second", "ttft", "cost", "duration", "model"):
        assert f'data-metric="{metric}"' in final
    # The stage line shows the stage while the run works, and nothing once it has ended.
    stage_line = f'<p id="{run.dom_id}-stage" class="muted small run-stage">'
    assert f"{stage_line}Writing the text</p>" in first
    assert f"{stage_line}</p>" in final
    assert any(
        f'id="{run.dom_id}-metrics" class="metrics run-metrics" hx-swap-oob="true"' in m
        for m in messages
    )


async def test_a_late_viewer_gets_the_final_panel_and_the_socket_closes(fake_openai, team):
    run = await wait_ended(await start_probe(team.editor, team.project))
    communicator = await connect(team.viewer, run)
    assert (await communicator.connect())[0]
    view = PanelView(run.dom_id)
    messages, code = await follow(communicator, view)
    assert len(messages) == 1 and code == 1000
    assert view.text == run.text and view.status == "succeeded"


async def test_a_viewer_cannot_cancel_over_the_socket(fake_openai, team):
    fake_openai.configure(tokens=200, tokens_per_second=50.0)
    run = await start_probe(team.editor, team.project)
    communicator = await connect(team.viewer, run)
    assert (await communicator.connect())[0]
    view = PanelView(run.dom_id)
    view.apply(await communicator.receive_from(timeout=10))
    await communicator.send_json_to({"action": "cancel"})
    while not view.notices:
        view.apply(await communicator.receive_from(timeout=10))
    assert view.notices == ["Only editors and owners can cancel a run."]
    assert (await Run.objects.aget(pk=run.pk)).status == RunStatus.RUNNING
    await communicator.disconnect()


async def test_an_editor_cancels_over_the_socket_and_keeps_the_partial_text(fake_openai, team):
    fake_openai.configure(tokens=400, tokens_per_second=40.0)
    run = await start_probe(team.editor, team.project)
    await wait_for_chunks(run, 2)
    communicator = await connect(team.owner, run)
    assert (await communicator.connect())[0]
    view = PanelView(run.dom_id)
    first = await communicator.receive_from(timeout=10)
    view.apply(first)
    assert 'data-testid="run-cancel"' in first
    await communicator.send_json_to({"action": "cancel", "HEADERS": {"HX-Request": "true"}})
    _, code = await follow(communicator, view)

    run = await Run.objects.aget(pk=run.pk)
    assert run.status == RunStatus.CANCELLED and code == 1000
    assert view.status == "cancelled"
    assert view.text == run.text and 0 < len(run.text) < len("tok " * 400)
    assert fake_openai.wait_for_disconnects(1)


async def test_model_text_is_escaped(fake_openai, team):
    fake_openai.configure(tokens=20, piece='<img src=x onerror="alert(1)"> & ')
    run = await start_probe(team.editor, team.project)
    communicator = await connect(team.editor, run)
    assert (await communicator.connect())[0]
    view = PanelView(run.dom_id)
    messages, _ = await follow(communicator, view)
    run = await Run.objects.aget(pk=run.pk)
    assert view.text == run.text == '<img src=x onerror="alert(1)"> & ' * 20
    assert not any("<img" in message for message in messages)
    assert any("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; " in m for m in messages)


async def test_dropped_live_messages_still_end_with_the_complete_text(fake_openai, team, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.runs.lossy_layer.LossyChannelLayer"}}
    LossyChannelLayer.dropped = 0
    fake_openai.configure(tokens=120, tokens_per_second=150.0)
    run = await start_probe(team.editor, team.project)
    communicator = await connect(team.editor, run)
    assert (await communicator.connect())[0]
    view = PanelView(run.dom_id)
    sse = asyncio.create_task(_collect(follow_run(run.pk)))
    _, code = await follow(communicator, view)
    followed = await sse

    run = await Run.objects.aget(pk=run.pk)
    events = await stored_events(run)
    assert LossyChannelLayer.dropped >= 3
    assert code == 1000 and run.status == RunStatus.SUCCEEDED
    assert view.text == run.text == chunk_text(events) == "tok " * 120
    assert [event.seq for event in followed] == [seq for seq, _, _ in events]


async def _collect(stream: Any) -> list[Any]:
    return [event async for event in stream if event is not None]
