"""Who may start, see and follow a roundtable: every route, page and the socket; and what a bad
request is told."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aura_site.asgi import application
from aura_site.projects.models import Character
from roundtable.models import Session
from tests.api_client import api_for, read_stream
from tests.roundtable.test_sessions import body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]


async def started(team: Any) -> dict[str, Any]:
    client = await api_for(team.editor)
    response = await client.post("/api/v1/roundtables", body(team, provider="rulebased"))
    assert response.status_code == 202, response.content
    return dict(response.json())


async def test_api_roles(team):
    viewer = await api_for(team.viewer)
    assert (await viewer.post("/api/v1/roundtables", body(team))).status_code == 403
    assert (await viewer.post("/api/v1/roundtables/stream", body(team))).status_code == 403
    outsider = await api_for(team.outsider)
    assert (await outsider.post("/api/v1/roundtables", body(team))).status_code == 404
    anonymous = await api_for(None)
    assert (await anonymous.post("/api/v1/roundtables", body(team))).status_code == 401
    assert await Session.objects.acount() == 0

    session = await started(team)
    assert (await viewer.get(f"/api/v1/roundtables/{session['id']}")).status_code == 200
    assert (await outsider.get(f"/api/v1/roundtables/{session['id']}")).status_code == 404
    assert (await outsider.get(f"/api/v1/runs/{session['run_id']}/events")).status_code == 404
    listing = await outsider.get(f"/api/v1/projects/{team.project.pk}/roundtables")
    assert listing.status_code == 404
    assert (await viewer.post(f"/api/v1/runs/{session['run_id']}/cancel")).status_code == 403
    events = await viewer.get(f"/api/v1/runs/{session['run_id']}/events")
    assert "event: done" in await read_stream(events)


async def test_bad_requests_are_refused_with_the_field_named(team, make_project):
    other = await sync_to_async(make_project)(owner=team.owner, name="Other film")
    stranger = await sync_to_async(Character.objects.create)(project=other, name="Ode")
    client = await api_for(team.editor)
    cases = [
        (body(team, mood="sunny"), "mood"),
        (body(team, brief="too short"), "brief"),
        (body(team, platform="vine"), "platform"),
        (body(team, duration_seconds=2), "duration_seconds"),
        (body(team, debate="sometimes"), "debate"),
        (body(team, agents={"producer": {"provider": "openai"}}), "agents.producer"),
        (body(team, characters=[stranger.pk]), "characters"),
        (body(team, series=999999), "series"),
        (body(team, provider="nonesuch"), "provider"),
    ]
    for payload, field in cases:
        response = await client.post("/api/v1/roundtables", payload)
        assert response.status_code == 400, (payload, response.content)
        fields = [detail["field"] for detail in response.json()["error"]["details"]]
        assert any(f == field or f.startswith(field) for f in fields), (field, fields)
    assert await Session.objects.acount() == 0


async def test_a_provider_that_is_not_set_up_cannot_be_chosen_for_a_session_or_an_agent(team):
    """No cloud provider is set up here: choosing one by name is refused with what to do, for
    the whole table and for one agent, and nothing starts on a fallback."""
    client = await api_for(team.editor)
    for payload, field in (
        (body(team, provider="anthropic"), "provider"),
        (body(team, provider="rulebased", agents={"director": {"provider": "gemini"}}), "provider"),
    ):
        response = await client.post("/api/v1/roundtables", payload)
        assert response.status_code == 400, response.content
        details = response.json()["error"]["details"]
        assert any(
            d["field"].startswith(field) and "is not set up" in d["message"] for d in details
        ), details
    assert await Session.objects.acount() == 0
    auto = await client.post("/api/v1/roundtables", body(team, provider="auto"))
    assert auto.status_code == 202, auto.content


def test_pages_follow_the_roles(team):
    def client_for(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    base = f"/projects/{team.project.pk}/roundtables/"
    viewer, outsider = client_for(team.viewer), client_for(team.outsider)
    assert viewer.get(base).status_code == 200
    assert viewer.get(f"{base}new/").status_code == 403
    assert viewer.post(f"{base}new/", {"brief": "x" * 20, "platform": "tiktok"}).status_code == 403
    for path in (base, f"{base}new/"):
        assert outsider.get(path).status_code == 404
    editor = client_for(team.editor)
    page = editor.get(f"{base}new/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Director" in html and "Platform Expert" in html and "Mara" in html
    refused = editor.post(f"{base}new/", {"brief": "short", "platform": "tiktok"})
    assert refused.status_code == 400 and "at least 10 characters" in refused.content.decode()
    assert Session.objects.count() == 0


async def test_the_socket_refuses_strangers_and_welcomes_members(team):
    from tests.runs.conftest import ORIGIN, session_cookie

    session = await started(team)
    path = f"/ws/runs/{session['run_id']}/"
    outsider = WebsocketCommunicator(
        application, path, headers=[ORIGIN, (b"cookie", await session_cookie(team.outsider))]
    )
    assert await outsider.connect() == (False, 4404)
    member = WebsocketCommunicator(
        application, path, headers=[ORIGIN, (b"cookie", await session_cookie(team.viewer))]
    )
    assert (await member.connect())[0]
    first = await member.receive_from(timeout=10)
    assert f'id="run-{session["run_id"]}"' in first and "agent-grid" in first
    await member.disconnect()
