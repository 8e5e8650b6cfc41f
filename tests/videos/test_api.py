"""The videos API's contract (../shared/API.md §3 "Videos"), its checks of a request, and who may
read what: every route, the clip and thumbnail files (with range requests), and the sockets."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from aura_site.asgi import application
from generation.runs.services import run_wait_ended
from tests.api_client import api_for
from tests.fakes.videos import FakeNeura
from tests.runs.conftest import ORIGIN, session_cookie
from tests.videos.conftest import configure_videos
from tests.videos_media.make import png_image
from videos.models import VideoJob

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("server_loop", "media_dir", "fast_polls"),
]


def body(team: Any, **fields: Any) -> dict[str, Any]:
    return {
        "project": team.project.pk,
        "prompt": "A lighthouse beam sweeping over a stormy sea",
        "model": "neura",
        **fields,
    }


async def test_the_catalogue_lists_every_model_with_its_category_price_and_configuration(
    settings: Any, team: Any
) -> None:
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    client = await api_for(team.viewer)
    response = await client.get("/api/v1/video-models")
    assert response.status_code == 200
    models = {m["name"]: m for m in response.json()}
    for name, category in (
        ("neura", "custom"),
        ("runway", "premium"),
        ("luma", "premium"),
        ("hunyuan", "free"),
        ("cogvideox", "free"),
        ("ltx", "free"),
        ("self_hosted", "self_hosted"),
    ):
        assert models[name]["category"] == category
    assert models["neura"]["configured"] is True and models["neura"]["how_to_configure"] == ""
    runway = models["runway"]
    assert runway["configured"] is False and "RUNWAY_API_KEY" in runway["how_to_configure"]
    assert runway["price"] == {"unit": "second", "amount": "0.120000"}
    assert models["hunyuan"]["price"]["unit"] == "clip"
    assert "HF_TOKEN" in models["ltx"]["how_to_configure"]
    assert "SELF_HOSTED_SERVER" in models["self_hosted"]["how_to_configure"]
    assert {"label", "provider", "quality", "max_duration_seconds"} <= set(runway)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prompt": "ab"}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"model": "sora"}, "model"),
        ({"duration_seconds": 0}, "duration_seconds"),
        ({"duration_seconds": 11}, "duration_seconds"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio"),
        ({"seed": -1}, "seed"),
        ({"image": "https://example.com/a.png"}, "image"),
        ({"image": "data:image/gif;base64,R0lGODlh"}, "image"),
        ({"image": "data:image/png;base64," + base64.b64encode(b"not a png").decode()}, "image"),
        ({"shot": {"roundtable": 999999, "number": 1}}, "shot"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_a_bad_request_is_refused_field_by_field_and_nothing_starts(
    settings: Any, team: Any, fields: dict[str, Any], field: str
) -> None:
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    client = await api_for(team.editor)
    response = await client.post("/api/v1/videos", body(team, **fields))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in {detail["field"] for detail in error["details"]}
    assert not await VideoJob.objects.aexists()


async def test_who_may_start_read_list_and_cancel(settings: Any, team: Any, clip: bytes) -> None:
    with FakeNeura(video=clip) as neura:
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": neura.api_key})
        viewer, outsider = await api_for(team.viewer), await api_for(team.outsider)
        assert (await viewer.post("/api/v1/videos", body(team))).status_code == 403
        assert (await outsider.post("/api/v1/videos", body(team))).status_code == 404
        anonymous = await api_for(None)
        assert (await anonymous.post("/api/v1/videos", body(team))).status_code == 401
        editor = await api_for(team.editor)
        first = (await editor.post("/api/v1/videos", body(team))).json()
        image = "data:image/png;base64," + base64.b64encode(png_image()).decode()
        started = await editor.post("/api/v1/videos", body(team, image=image, seed=7))
        assert started.status_code == 202
        second = started.json()
        await run_wait_ended(first["run_id"], 10)
        await run_wait_ended(second["run_id"], 10)
        sent = [r.json() for r in neura.api_requests if r.method == "POST"]
    assert sent[1]["image"].startswith("data:image/png;base64,") and sent[1]["seed"] == 7
    listed = await viewer.get(f"/api/v1/projects/{team.project.pk}/videos")
    assert [job["id"] for job in listed.json()] == [second["id"], first["id"]]
    assert (await outsider.get(f"/api/v1/projects/{team.project.pk}/videos")).status_code == 404
    assert (await outsider.get(f"/api/v1/videos/{first['id']}")).status_code == 404
    assert (await outsider.post(f"/api/v1/videos/{first['id']}/cancel")).status_code == 404
    assert (await outsider.get(f"/api/v1/runs/{first['run_id']}/events")).status_code == 404
    job = (await viewer.get(f"/api/v1/videos/{first['id']}")).json()
    assert job["status"] == "succeeded"
    assert job["video_url"].startswith("http://") and job["thumbnail_url"]
    # cancel after the end changes nothing and says so by the job's state
    done = await editor.post(f"/api/v1/videos/{first['id']}/cancel")
    assert done.status_code == 200 and done.json()["status"] == "succeeded"


async def _finished_job(settings: Any, team: Any, clip: bytes) -> VideoJob:
    with FakeNeura(video=clip) as neura:
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": neura.api_key})
        editor = await api_for(team.editor)
        job = (await editor.post("/api/v1/videos", body(team))).json()
        await run_wait_ended(job["run_id"], 10)
    return await sync_to_async(VideoJob.objects.get)(pk=job["id"])


async def content_of(response: Any) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


async def _client_of(user: Any) -> AsyncClient:
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    return client


async def test_the_clip_is_served_to_members_only_with_ranges_so_a_player_can_seek(
    settings: Any, team: Any, clip: bytes
) -> None:
    job = await _finished_job(settings, team, clip)
    viewer = await _client_of(team.viewer)
    whole = await viewer.get(job.video_url)
    assert whole.status_code == 200
    assert whole["Content-Type"] == "video/mp4" and whole["Accept-Ranges"] == "bytes"
    assert (await content_of(whole)) == clip
    part = await viewer.get(job.video_url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{len(clip)}"
    assert (await content_of(part)) == clip[100:200]
    tail = await viewer.get(job.video_url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206
    assert (await content_of(tail)) == clip[-50:]
    beyond = await viewer.get(job.video_url, headers={"Range": f"bytes={len(clip) + 10}-"})
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(clip)}"
    download = await viewer.get(job.download_url)
    assert download["Content-Disposition"].startswith("attachment; filename=")
    thumbnail = await viewer.get(job.thumbnail_url)
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"

    outsider = await _client_of(team.outsider)
    assert (await outsider.get(job.video_url)).status_code == 404
    assert (await outsider.get(job.thumbnail_url)).status_code == 404
    assert (await AsyncClient().get(job.video_url)).status_code == 404
    token_client = await api_for(team.viewer)
    with_token = await token_client.get(job.video_url, headers={"Range": "bytes=0-9"})
    assert with_token.status_code == 206


async def _socket(user: Any, path: str) -> WebsocketCommunicator:
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    return WebsocketCommunicator(application, path, headers=headers)


async def test_sockets_admit_members_only_and_the_list_goes_live_for_teammates(
    settings: Any, team: Any, clip: bytes
) -> None:
    job = await _finished_job(settings, team, clip)
    for user, code in ((team.outsider, 4404), (None, 4401)):
        for path in (f"/ws/projects/{team.project.pk}/videos/", f"/ws/runs/{job.run_id}/"):
            socket = await _socket(user, path)
            connected, closed = await socket.connect()
            assert not connected and closed == code
    socket = await _socket(team.viewer, f"/ws/projects/{team.project.pk}/videos/")
    connected, _ = await socket.connect()
    assert connected
    first = await socket.receive_from(timeout=5)
    assert 'id="video-jobs"' in first and job.title in first
    with FakeNeura(video=clip) as neura:
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": neura.api_key})
        editor = await api_for(team.editor)
        started = (
            await editor.post("/api/v1/videos", body(team, prompt="A second clip of the pier"))
        ).json()
        seen = await socket.receive_from(timeout=5)
        assert "A second clip of the pier" in seen
        await run_wait_ended(started["run_id"], 10)
    await socket.disconnect()


async def test_a_job_made_from_a_roundtable_shot_keeps_which_shot_it_was(
    settings: Any, team: Any, make_project: Any
) -> None:
    from roundtable.kind import clip_url
    from roundtable.models import Session

    shots = [
        {
            "number": 2,
            "shot_type": "Close-up",
            "description": "Hands on the ship's wheel.",
            "duration_seconds": 3.5,
            "camera": "Slow push in",
            "lens": "85mm",
            "lighting": "Lamp glow",
            "color": "Teal and amber",
        }
    ]
    session = await Session.objects.acreate(
        project=team.project,
        brief="A harbour pilot at dusk",
        platform="tiktok",
        duration_seconds=30,
        shots=shots,
    )
    other = await sync_to_async(make_project)(name="Other film")
    elsewhere = await Session.objects.acreate(
        project=other, brief="Elsewhere", platform="tiktok", duration_seconds=30, shots=shots
    )
    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    client = await api_for(team.editor)
    refused = await client.post(
        "/api/v1/videos", body(team, shot={"roundtable": elsewhere.pk, "number": 2})
    )
    assert refused.status_code == 400
    missing = await client.post(
        "/api/v1/videos", body(team, shot={"roundtable": session.pk, "number": 9})
    )
    assert missing.status_code == 400
    started = await client.post(
        "/api/v1/videos", body(team, shot={"roundtable": session.pk, "number": 2})
    )
    assert started.status_code == 202
    assert started.json()["shot"] == {
        "roundtable": session.pk,
        "number": 2,
        "description": "Hands on the ship's wheel.",
    }
    await run_wait_ended(started.json()["run_id"], 10)

    class FakeRun:
        project_id = team.project.pk
        input = {"session_id": session.pk}

    url = clip_url(FakeRun(), shots[0])  # type: ignore[arg-type]
    assert url.startswith(f"/projects/{team.project.pk}/videos/?prompt=Hands+on+the+ship")
    assert "Close-up%2C+Slow+push+in%2C+85mm" in url
    assert "duration_seconds=3.5" in url and f"shot_roundtable={session.pk}&shot_number=2" in url


def test_the_admin_tests_a_video_providers_key_with_a_real_call(settings: Any) -> None:
    from generation.costs.credentials import KeyTestFailed, credential_test

    with FakeNeura(api_key="neura-test") as neura:
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": "neura-test"})
        assert "HTTP 200" in credential_test("neura")
        assert [r.path for r in neura.api_requests] == ["/api/v1/health"]
        neura.healthy = False
        with pytest.raises(KeyTestFailed, match="unavailable"):
            credential_test("neura")
    configure_videos(settings)
    with pytest.raises(KeyTestFailed, match="RUNWAY_API_KEY"):
        credential_test("runway")


async def test_a_quote_prices_the_chain_before_anything_starts(settings: Any, team: Any) -> None:
    configure_videos(
        settings,
        neura={"base_url": "http://127.0.0.1:9"},
        runway={"api_key": "key_test"},
        huggingface={"api_key": "hf_test"},
    )
    editor = await api_for(team.editor)
    quote = await editor.post("/api/v1/videos/quote", body(team, duration_seconds=5))
    assert quote.status_code == 200, quote.content
    figures = quote.json()
    # The custom server is free; if it fails the free models follow, each priced per clip.
    assert float(figures["expected_cost"]) == 0
    assert figures["cost_ceiling"] == "0.80000000"  # HunyuanVideo, CogVideoX and LTX-Video
    assert (figures["currency"], figures["provider"]) == ("USD", "neura")
    premium = await editor.post(
        "/api/v1/videos/quote", body(team, model="runway", duration_seconds=5)
    )
    assert premium.json()["expected_cost"] == premium.json()["cost_ceiling"] == "0.60000000"
    assert not await VideoJob.objects.aexists()

    viewer = await api_for(team.viewer)
    assert (await viewer.post("/api/v1/videos/quote", body(team))).status_code == 403
    bad = await editor.post("/api/v1/videos/quote", body(team, prompt="ab"))
    assert bad.status_code == 400

    configure_videos(settings, neura={"base_url": "http://127.0.0.1:9"})
    started = await editor.post("/api/v1/videos", body(team, duration_seconds=5))
    assert started.status_code == 202, started.content
    job = await VideoJob.objects.select_related("run").aget()
    assert job.run is not None
    assert (job.run.expected_cost, job.run.cost_ceiling) == (0, 0)
    await run_wait_ended(job.run.pk, 30)
