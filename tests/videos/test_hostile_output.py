"""Video jobs whose prompt came from a hostile shot list and whose server answers with hostile
status words, error codes and messages and metadata (tests/fakes/hostile.py): the job pages,
the list, the project page, the WebSocket snapshot, every stored event's fragment and the
admin show them as text, and no markup of them comes alive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aura_site.asgi import application
from generation.runs.fragments import render_stored_event
from generation.runs.kinds import spec_for
from generation.runs.models import Run, RunEvent
from tests.api_client import api_for, parse_sse, read_stream
from tests.fakes.hostile import PAYLOADS, audit_html, hostile_video_states
from tests.fakes.videos import FakeNeura
from tests.runs.conftest import ORIGIN, session_cookie
from tests.videos.conftest import configure_videos

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("server_loop", "media_dir", "fast_polls"),
]

PROMPT = f"A harbour at dusk {PAYLOADS['script']} {PAYLOADS['hx-get']} {PAYLOADS['template-var']}"


def assert_inert(html: str, where: str) -> str:
    problems, text = audit_html(html)
    assert not problems, (where, problems)
    return text


async def run_job(team: Any) -> tuple[dict[str, Any], Run]:
    client = await api_for(team.editor)
    response = await client.post(
        "/api/v1/videos",
        {"project": team.project.pk, "prompt": PROMPT, "model": "neura", "duration_seconds": 4},
    )
    assert response.status_code == 202, response.content
    job = response.json()
    events = await client.get(f"/api/v1/runs/{job['run_id']}/events")
    parse_sse(await read_stream(events))
    return job, await Run.objects.aget(pk=job["run_id"])


async def test_hostile_video_metadata_and_errors_are_text_everywhere(
    settings: Any, team: Any, clip: bytes, media_dir: Path, make_user: Any
) -> None:
    failing, completing = hostile_video_states()
    with FakeNeura(video=clip) as neura:
        neura.next_job(failing)
        neura.next_job(completing)
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": neura.api_key})
        failed_job, failed_run = await run_job(team)
        done_job, done_run = await run_job(team)
    assert failed_run.status == "failed", failed_run.status
    assert PAYLOADS["script"] in failed_run.error_message
    assert done_run.status == "succeeded", (done_run.status, done_run.error_message)

    viewer = Client()
    await sync_to_async(viewer.force_login)(team.viewer)
    staff = Client()
    await sync_to_async(staff.force_login)(
        await sync_to_async(make_user)(is_staff=True, is_superuser=True)
    )
    project = team.project.pk
    pages = {
        "failed job": (viewer, f"/projects/{project}/videos/{failed_job['id']}/"),
        "done job": (viewer, f"/projects/{project}/videos/{done_job['id']}/"),
        "list": (viewer, f"/projects/{project}/videos/"),
        "project": (viewer, f"/projects/{project}/"),
        "admin run": (staff, f"/admin/runs/run/{failed_run.pk}/change/"),
        "admin done run": (staff, f"/admin/runs/run/{done_run.pk}/change/"),
    }
    texts = {}
    for name, (client, url) in pages.items():
        page = await sync_to_async(client.get)(url)
        assert page.status_code == 200, (name, page.status_code)
        texts[name] = assert_inert(page.content.decode(), name)
    assert PAYLOADS["script"] in texts["failed job"] and "{{" in texts["failed job"]
    assert "A harbour at dusk <script>" in texts["list"]

    spec = spec_for("video")
    for run in (failed_run, done_run):
        communicator = WebsocketCommunicator(
            application,
            f"/ws/runs/{run.pk}/",
            headers=[ORIGIN, (b"cookie", await session_cookie(team.viewer))],
        )
        connected, _ = await communicator.connect()
        assert connected
        snapshot = await communicator.receive_from(timeout=10)
        await communicator.disconnect()
        assert_inert(snapshot, f"socket of run {run.pk}")
        async for event in RunEvent.objects.filter(run=run).order_by("seq"):
            html = await sync_to_async(render_stored_event)(
                run, spec, event.event, event.data, event.part
            )
            assert_inert(html, f"event {event.seq} {event.event}")
