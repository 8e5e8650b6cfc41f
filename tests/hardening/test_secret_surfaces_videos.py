"""No video provider key in what a video job keeps or shows, when the provider quotes the key it
was sent: in an error answer to the submit, and in the failure reason of a job it polls. The
stored run, parts and events, the job, its API answer and its event stream hold the masked key
only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.forms.models import model_to_dict

from generation.runs.models import Run, RunEvent, RunPart
from tests.api_client import api_for, read_stream
from tests.fakes.videos import FakeNeura, neura_failed
from tests.scripts.conftest import team
from tests.videos.conftest import configure_videos
from videos.models import VideoJob

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("server_loop"),
]
__all__ = ["team"]

NEURA_KEY = "neura-echo-key-81c3f0"


def _kept(run_id: str, job_id: int) -> dict[str, str]:
    run = Run.objects.get(pk=run_id)
    texts = {"run": json.dumps(model_to_dict(run), default=str)}
    for event in RunEvent.objects.filter(run=run):
        texts[f"event {event.seq} {event.event}"] = json.dumps(event.data)
    for part in RunPart.objects.filter(run=run):
        texts[f"part {part.key}"] = json.dumps(model_to_dict(part), default=str)
    job = VideoJob.objects.get(pk=job_id)
    texts["job"] = json.dumps(model_to_dict(job), default=str)
    return texts


async def _job(team: Any) -> tuple[dict[str, Any], dict[str, str]]:
    client = await api_for(team.editor)
    started = await client.post(
        "/api/v1/videos",
        {
            "project": team.project.pk,
            "prompt": "A slow dolly shot along a rain-soaked harbour at dusk",
            "model": "neura",
            "duration_seconds": 4,
        },
    )
    assert started.status_code == 202, started.content
    job = started.json()
    viewer = await api_for(team.viewer)
    stream = await viewer.get(f"/api/v1/runs/{job['run_id']}/events")
    events = await read_stream(stream)
    state = await viewer.get(f"/api/v1/videos/{job['id']}")
    texts = await sync_to_async(_kept)(job["run_id"], job["id"])
    texts.update(events=events, api=state.content.decode())
    return state.json(), texts


@pytest.mark.parametrize("where", ["submit", "poll"])
async def test_a_video_provider_quoting_its_key_leaves_no_key_in_the_job(
    where: str, settings: Any, team: Any
) -> None:
    with FakeNeura(api_key=NEURA_KEY) as neura:
        if where == "submit":
            neura.push(401, {"error": {"code": "unauthorized", "message": f"bad key {NEURA_KEY}"}})
        else:
            neura.next_job(["queued", neura_failed("rejected", f"key {NEURA_KEY} is suspended")])
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": NEURA_KEY})
        state, texts = await _job(team)

    assert state["status"] == "failed", state
    leaks = [where for where, text in texts.items() if NEURA_KEY in text]
    assert leaks == []
    assert "neura" in texts["events"] and "attempt_failed" in texts["events"]
    assert "…" in texts["events"], "the masked key is not in the failure the job kept"
