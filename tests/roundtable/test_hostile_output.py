"""A roundtable whose every answer is hostile (tests/fakes/hostile.py): the session page, the
WebSocket snapshot and every stored event's fragment show it as text, and no markup of it
comes alive (no script body, handler, htmx attribute or URL carrying the payloads' marker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aura_site.asgi import application
from generation.runs.fragments import render_stored_event
from generation.runs.kinds import spec_for
from generation.runs.models import Run, RunEvent
from roundtable.models import Session
from tests.api_client import api_for, parse_sse, read_stream
from tests.fakes.hostile import PAYLOADS, VISIBLE, HostileTable, audit_html
from tests.roundtable.conftest import _providers
from tests.runs.conftest import ORIGIN, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]


@pytest.fixture
def hostile(settings: Any) -> Iterator[HostileTable]:
    with HostileTable(size=23, delay=0) as fake:
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": fake.base_url, "model": "gpt-4o-mini"},
        )
        yield fake


def assert_inert(html: str, where: str) -> str:
    problems, text = audit_html(html)
    assert not problems, (where, problems)
    return text


async def test_a_hostile_session_is_shown_as_text_on_the_page_the_socket_and_each_event(
    hostile: HostileTable, team: Any
) -> None:
    client = await api_for(team.editor)
    response = await client.post(
        "/api/v1/roundtables/stream",
        {
            "project": team.project.pk,
            "brief": "A thirty second film about a harbour pilot.",
            "platform": "tiktok",
            "duration_seconds": 30,
            "provider": "openai",
            "debate": "always",
        },
    )
    assert response.status_code == 200, response.content
    events, _ = parse_sse(await read_stream(response))
    assert events[-1].event == "done", events[-1]
    session = await Session.objects.aget(pk=events[0].data["session_id"])
    run = await Run.objects.aget(pk=events[0].data["run_id"])
    assert {"question", "answer", "synthesis", "shots"} <= set(hostile.steps), hostile.steps

    page_client = Client()
    await sync_to_async(page_client.force_login)(team.viewer)
    page = await sync_to_async(page_client.get)(
        f"/projects/{team.project.pk}/roundtables/{session.pk}/"
    )
    assert page.status_code == 200
    text = assert_inert(page.content.decode(), "session page")
    for piece in VISIBLE:
        assert piece in text, piece
    assert PAYLOADS["img-onerror"] in text
    assert "<b>pwned</b>" not in page.content.decode()

    communicator = WebsocketCommunicator(
        application,
        f"/ws/runs/{run.pk}/",
        headers=[ORIGIN, (b"cookie", await session_cookie(team.viewer))],
    )
    connected, _ = await communicator.connect()
    assert connected
    snapshot = await communicator.receive_from(timeout=10)
    await communicator.disconnect()
    socket_text = assert_inert(snapshot, "socket snapshot")
    assert "<script>" in socket_text and "hx-get=" in socket_text

    spec = spec_for("roundtable")
    stored = [e async for e in RunEvent.objects.filter(run=run).order_by("seq")]
    assert len(stored) > 20
    for event in stored:
        html = await sync_to_async(render_stored_event)(
            run, spec, event.event, event.data, event.part
        )
        assert_inert(html, f"event {event.seq} {event.event}")

    session_json = (await client.get(f"/api/v1/roundtables/{session.pk}")).json()
    assert PAYLOADS["script"] in json.dumps(session_json, ensure_ascii=False)
    assert session_json["shots"]["parsed"] is True, session_json["shots"]
    assert 'data-testid="shot-table"' in page.content.decode()
