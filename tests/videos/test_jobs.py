"""Video jobs end to end through the real API, the run core's step mode and the coordinator,
against loopback fakes of the providers serving real MP4 files made with PyAV: the routing rules
and their fallbacks, every result checked (a still or a slideshow fails its attempt), the job's
events, its stored clip, thumbnail, metadata and cost records; offline honesty; submits that are
never repeated; a job that survives its worker dying mid-poll; cancel calling the provider's own
cancel; retry-after honoured; expired result URLs fetched again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from generation.costs.models import Budget, CostRecord
from generation.runs.maintenance import reap_stale_runs
from generation.runs.models import Run, RunEvent, RunStatus
from generation.runs.services import run_wait_ended
from generation.runs.stepping import execute_step
from tests.api_client import SSE, api_for, parse_sse, read_stream
from tests.fakes.videos import FakeNeura, FakeRunway, neura_failed
from tests.fakes.videos_hf import FakeHuggingFace, FalPlan, fal_completed, fal_mapping, fal_running
from tests.videos.conftest import configure_videos
from tests.videos_media.make import moving_pattern_mp4, slideshow_mp4, still_mp4
from videos.models import VideoJob

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("server_loop", "media_dir", "fast_polls"),
]


def neura_options(fake: FakeNeura) -> dict[str, Any]:
    return {"base_url": fake.base_url, "api_key": fake.api_key}


def hf_options(fake: FakeHuggingFace) -> dict[str, Any]:
    return {"api_key": fake.token, "base_url": fake.base_url, "hub_url": fake.base_url}


def body(team: Any, **fields: Any) -> dict[str, Any]:
    return {
        "project": team.project.pk,
        "prompt": "A slow dolly shot along a rain-soaked harbour at dusk",
        "model": "neura",
        "duration_seconds": 4,
        **fields,
    }


async def start(team: Any, user: Any = None, **fields: Any) -> dict[str, Any]:
    client = await api_for(user or team.editor)
    response = await client.post("/api/v1/videos", body(team, **fields))
    assert response.status_code == 202, response.content
    return response.json()


async def events_of(user: Any, run_id: str) -> list[SSE]:
    client = await api_for(user)
    response = await client.get(f"/api/v1/runs/{run_id}/events")
    assert response.status_code == 200
    events, _ = parse_sse(await read_stream(response))
    return events


async def finished(team: Any, job: dict[str, Any]) -> tuple[dict[str, Any], list[SSE]]:
    events = await events_of(team.viewer, job["run_id"])
    client = await api_for(team.viewer)
    response = await client.get(f"/api/v1/videos/{job['id']}")
    assert response.status_code == 200
    return response.json(), events


def names(events: list[SSE]) -> list[str]:
    return [event.event for event in events]


async def test_the_custom_server_makes_a_checked_clip_with_its_facts_thumbnail_and_cost(
    settings: Any, team: Any, media_dir: Path, clip: bytes
) -> None:
    with FakeNeura(video=clip, cost_usd="0.25") as neura:
        neura.next_job(
            ["queued", {"status": "processing", "progress": 0.3}, "processing", "completed"]
        )
        configure_videos(settings, neura=neura_options(neura))
        job = await start(team)
        assert job["status"] == "queued" and job["model"] == "neura"
        state, events = await finished(team, job)

    assert state["status"] == "succeeded", state
    order = names(events)
    assert order[0] == "run" and order[-1] == "done"
    assert order[1] == "attempt_start" and "progress" in order
    assert "attempt_failed" not in order and "provider_switch" not in order
    assert events[0].data["job_id"] == job["id"] and events[0].data["kind"] == "video"
    percents = [e.data["percent"] for e in events if e.event == "progress"]
    assert 30 in percents
    done = events[-1].data
    assert done["job_id"] == job["id"]
    assert done["video_url"].endswith(f"/videos/{job['id']}/clip")
    metadata = state["metadata"]
    assert metadata["width"] == 160 and metadata["height"] == 96
    assert metadata["frames"] == 48 and metadata["codec"] == "h264"
    assert metadata["duration_seconds"] == pytest.approx(2.0, abs=0.1)
    assert metadata["bytes"] == len(clip) and metadata["motion"] == "moving"
    assert metadata["provider"] == "neura" and metadata["processing_ms"] >= 0
    assert state["cost"] == "0.25000000"
    assert [a["outcome"] for a in state["attempts"]] == ["succeeded"]
    # one submit, polls until completed, one download; the file stored is the one served
    submits = [r for r in neura.api_requests if r.method == "POST"]
    assert len(submits) == 1
    assert submits[0].json()["duration"] == 4.0
    stored = await sync_to_async(VideoJob.objects.get)(pk=job["id"])
    assert (media_dir / stored.video).read_bytes() == clip
    assert (media_dir / stored.thumbnail).read_bytes()[:3] == b"\xff\xd8\xff"
    records = [r async for r in CostRecord.objects.filter(run_id=job["run_id"])]
    assert [(r.outcome, r.cost, r.reported, r.unit) for r in records] == [
        ("succeeded", Decimal("0.25"), True, "clip")
    ]


async def test_custom_falls_back_to_the_free_models_in_order_with_each_attempt_kept(
    settings: Any, team: Any, clip: bytes
) -> None:
    with FakeNeura(video=clip) as neura, FakeHuggingFace(video=clip) as hf:
        neura.next_job([neura_failed("content_filter", "the prompt was refused")])
        hf.map_model("tencent/HunyuanVideo", {"fal-ai": fal_mapping("fal-ai/hunyuan-video")})
        hf.plan_fal(FalPlan([fal_completed(error="runner crashed", error_type="runner_oom")]))
        hf.plan_fal(FalPlan([fal_completed(error="runner crashed", error_type="runner_oom")]))
        hf.map_model("zai-org/CogVideoX-5b", None)
        hf.map_model("Lightricks/LTX-Video", {"fal-ai": fal_mapping("fal-ai/ltx-video")})
        hf.plan_fal(FalPlan([fal_running("step 5/30"), fal_completed()]))
        configure_videos(settings, neura=neura_options(neura), huggingface=hf_options(hf))
        job = await start(team)
        state, events = await finished(team, job)

    assert state["status"] == "succeeded", state
    attempts = [(a["model"], a["outcome"], a["code"]) for a in state["attempts"]]
    assert attempts[0] == ("neura", "failed", "content_filter")
    # HunyuanVideo failed for a passing reason: tried once more on it, then CogVideoX (served by
    # nobody), then LTX-Video made it
    assert [a[0] for a in attempts] == ["neura", "hunyuan", "hunyuan", "cogvideox", "ltx"]
    assert attempts[-1][1] == "succeeded"
    assert "not served by any" in state["attempts"][3]["reason"]
    switches = [(e.data["from"], e.data["to"]) for e in events if e.event == "provider_switch"]
    assert switches == [("neura", "hunyuan"), ("hunyuan", "cogvideox"), ("cogvideox", "ltx")]
    failed = [e.data for e in events if e.event == "attempt_failed"]
    assert [f["retryable"] for f in failed] == [False, True, True, False]
    assert state["metadata"]["model"] == "ltx"


async def test_stills_and_slideshows_fail_their_attempts_and_no_stand_in_is_delivered(
    settings: Any, team: Any, media_dir: Path
) -> None:
    with FakeNeura(video=still_mp4()) as neura, FakeHuggingFace(video=slideshow_mp4(2)) as hf:
        hf.map_model("tencent/HunyuanVideo", {"fal-ai": fal_mapping("fal-ai/hunyuan-video")})
        hf.map_model("zai-org/CogVideoX-5b", None)
        hf.map_model("Lightricks/LTX-Video", None)
        configure_videos(settings, neura=neura_options(neura), huggingface=hf_options(hf))
        job = await start(team)
        state, events = await finished(team, job)

    assert state["status"] == "failed"
    assert state["video_url"] is None and state["thumbnail_url"] is None
    codes = [a["code"] for a in state["attempts"]]
    assert codes[:2] == ["not_a_video", "not_a_video"]
    assert "still" in state["attempts"][0]["reason"]
    assert "slideshow" in state["attempts"][1]["reason"]
    error = events[-1]
    assert error.event == "error" and error.data["code"] == "all_providers_failed"
    assert "not a real video" in error.data["message"]
    assert not list(media_dir.rglob("clip-*"))
    # the providers billed the clips they made, whatever they were
    records = [r async for r in CostRecord.objects.filter(run_id=job["run_id"])]
    assert {r.model: r.cost for r in records}["hunyuan"] == Decimal("0.4")


async def test_with_nothing_configured_a_job_fails_at_once_saying_what_to_configure(
    settings: Any, team: Any
) -> None:
    configure_videos(settings)
    job = await start(team, model="hunyuan")
    state, events = await finished(team, job)
    assert state["status"] == "failed" and state["attempts"] == []
    assert names(events) == ["run", "error"]
    message = events[-1].data["message"]
    assert events[-1].data["code"] == "no_provider_configured"
    assert "HF_TOKEN" in message
    for label in ("HunyuanVideo", "CogVideoX-5B", "LTX-Video"):
        assert label in message
    assert state["error"]["message"] == message

    job = await start(team, model="neura")
    state, events = await finished(team, job)
    assert "NEURA_AI_SERVER" in events[-1].data["message"]
    assert "HF_TOKEN" in events[-1].data["message"]


async def test_runway_is_tried_alone_even_when_free_models_are_configured(
    settings: Any, team: Any, clip: bytes
) -> None:
    with FakeRunway(api_key="key_test", video=clip) as runway, FakeHuggingFace() as hf:
        runway.next_job(
            [{"status": "FAILED", "failure": "Input rejected", "failureCode": "SAFETY.INPUT.TEXT"}]
        )
        configure_videos(
            settings,
            runway={"api_key": "key_test", "base_url": runway.base_url},
            huggingface=hf_options(hf),
        )
        job = await start(team, model="runway", duration_seconds=5)
        state, events = await finished(team, job)
        assert hf.requests == []
    assert state["status"] == "failed"
    assert [(a["model"], a["code"]) for a in state["attempts"]] == [("runway", "SAFETY.INPUT.TEXT")]
    assert "provider_switch" not in names(events)


async def test_an_expired_result_url_is_fetched_again_after_a_fresh_poll(
    settings: Any, team: Any, clip: bytes
) -> None:
    with FakeRunway(api_key="key_test", video=clip) as runway:
        runway.next_job(["PENDING", "SUCCEEDED"])
        configure_videos(settings, runway={"api_key": "key_test", "base_url": runway.base_url})
        runway.push(delay=0.0)
        job = await start(team, model="runway", duration_seconds=5)
        # expire every URL the fake signs before it is downloaded: the first download gets 403
        while not [r for r in runway.api_requests if r.method == "GET"]:
            await asyncio.sleep(0.01)
        runway.expire_outputs()
        state, _ = await finished(team, job)
    assert state["status"] == "succeeded", state
    assert state["cost"] == "0.60000000"


async def test_a_redelivered_step_does_not_submit_twice(
    settings: Any, team: Any, clip: bytes
) -> None:
    settings.AURA_VIDEO_POLL_SECONDS = 30
    with FakeNeura(video=clip) as neura:
        neura.push(delay=0.3, method="POST")
        configure_videos(settings, neura=neura_options(neura))
        job = await start(team)
        run_id = job["run_id"]
        # the launcher's own first step and two redeliveries of it, all at once
        results = await asyncio.gather(execute_step(run_id, 0), execute_step(run_id, 0))
        await asyncio.sleep(0.5)
        submits = [r for r in neura.api_requests if r.method == "POST"]
    assert len(submits) == 1
    assert results.count(None) >= 1
    run = await Run.objects.aget(pk=run_id)
    assert run.status == RunStatus.SUBMITTED and run.step == 1


async def test_a_job_survives_its_worker_dying_mid_poll(
    settings: Any, team: Any, clip: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    settings.AURA_VIDEO_POLL_SECONDS = 3600
    with FakeNeura(video=clip) as neura:
        neura.next_job(["completed"])
        configure_videos(settings, neura=neura_options(neura))
        job = await start(team)
        run_id = job["run_id"]
        while not await Run.objects.filter(pk=run_id, status=RunStatus.SUBMITTED).aexists():
            await asyncio.sleep(0.02)
        # the worker that took the next poll died with it a minute ago: its lease ran out, and
        # the wake-up is overdue (the one this loop still holds is an hour away)
        past = timezone.now() - timedelta(seconds=60)
        await Run.objects.filter(pk=run_id).aupdate(
            lease_owner="dead-worker:1", lease_until=past, wake_at=past
        )
        relaunched = 0
        for _ in range(200):
            if await Run.objects.filter(pk=run_id, status=RunStatus.SUCCEEDED).aexists():
                break
            _, count = await reap_stale_runs()
            relaunched += count
            await asyncio.sleep(0.05)
        submits = [r for r in neura.api_requests if r.method == "POST"]
    # relaunched by this loop's own reaper or by the calls above, never interrupted
    assert relaunched >= 1 or f"run {run_id}: step 1 was overdue; relaunched" in caplog.text
    assert len(submits) == 1
    state, _ = await finished(team, job)
    assert state["status"] == "succeeded"


async def test_cancel_calls_the_providers_cancel_and_records_the_attempt(
    settings: Any, team: Any, clip: bytes
) -> None:
    settings.AURA_VIDEO_POLL_SECONDS = 3600
    with FakeNeura(video=clip) as neura:
        neura.next_job(["processing"])
        configure_videos(settings, neura=neura_options(neura))
        job = await start(team)
        while not await Run.objects.filter(pk=job["run_id"], status=RunStatus.SUBMITTED).aexists():
            await asyncio.sleep(0.02)
        viewer = await api_for(team.viewer)
        refused = await viewer.post(f"/api/v1/videos/{job['id']}/cancel")
        assert refused.status_code == 403
        client = await api_for(team.editor)
        response = await client.post(f"/api/v1/videos/{job['id']}/cancel")
        assert response.status_code == 200
        again = await client.post(f"/api/v1/videos/{job['id']}/cancel")
        deletes = [r for r in neura.api_requests if r.method == "DELETE"]
    assert response.json()["status"] == "cancelled"
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert len(deletes) == 1
    assert deletes[0].path == f"/api/v1/task/{next(iter(neura.jobs))}"
    records = [r async for r in CostRecord.objects.filter(run_id=job["run_id"])]
    assert [(r.outcome, r.reported) for r in records] == [("cancelled", False)]
    events = await events_of(team.editor, job["run_id"])
    assert events[-1].event == "cancelled"


async def test_a_throttled_submit_waits_as_long_as_the_provider_asks(
    settings: Any, team: Any, clip: bytes
) -> None:
    settings.AURA_VIDEO_POLL_SECONDS = 3600
    with FakeNeura(video=clip) as neura:
        neura.push(
            429,
            {"error": {"code": "overloaded", "message": "busy"}},
            {"retry-after": "7"},
            method="POST",
        )
        configure_videos(settings, neura=neura_options(neura))
        job = await start(team)
        run_id = job["run_id"]
        while not await Run.objects.filter(pk=run_id, step=1).aexists():
            await asyncio.sleep(0.02)
        run = await Run.objects.aget(pk=run_id)
        part = await run.parts.aget()
    assert run.wake_at is not None and run.heartbeat_at is not None
    wait = (run.wake_at - run.heartbeat_at).total_seconds()
    assert 6.9 <= wait <= 7.5
    assert part.status == "waiting" and part.operation == {}
    assert "Trying again" in part.error_message


async def test_a_budget_stops_an_attempt_before_it_is_submitted(
    settings: Any, team: Any, clip: bytes
) -> None:
    with FakeRunway(api_key="key_test", video=clip) as runway:
        configure_videos(settings, runway={"api_key": "key_test", "base_url": runway.base_url})
        await Budget.objects.acreate(
            name="Videos",
            scope="project",
            project=team.project,
            period="month",
            limit_usd=Decimal("0.50"),
        )
        job = await start(team, model="runway", duration_seconds=5)
        state, _ = await finished(team, job)
        assert runway.api_requests == []
    assert state["status"] == "failed"
    assert state["attempts"][0]["code"] == "budget"
    assert "0.60" in state["attempts"][0]["reason"]


async def test_the_job_follows_its_run_and_the_project_hears_of_it(
    settings: Any, team: Any, clip: bytes
) -> None:
    with FakeNeura(video=clip) as neura:
        neura.next_job(["queued", {"status": "processing", "progress": 0.5}, "completed"])
        configure_videos(settings, neura=neura_options(neura))
        job = await start(team)
        await run_wait_ended(job["run_id"], 10)
    stored = await sync_to_async(VideoJob.objects.get)(pk=job["id"])
    assert stored.status == "succeeded" and stored.progress == 100
    assert stored.video and stored.thumbnail
    assert stored.cost == Decimal("0.25")
    from aura_site.projects.models import Activity

    verbs = [
        verb
        async for verb in Activity.objects.filter(project=team.project).values_list(
            "verb", flat=True
        )
    ]
    assert any(v.startswith("started the clip") for v in verbs)
    assert any(v.startswith("made the clip") for v in verbs)
    assert await RunEvent.objects.filter(run_id=job["run_id"], event="done").acount() == 1


async def test_a_moving_clip_with_repeated_frames_passes(settings: Any, team: Any) -> None:
    with FakeNeura(video=moving_pattern_mp4(seconds=2.0, hold=3)) as neura:
        configure_videos(settings, neura=neura_options(neura))
        job = await start(team)
        state, _ = await finished(team, job)
    assert state["status"] == "succeeded"
