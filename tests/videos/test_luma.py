"""Luma Dream Machine's adapter against a loopback fake of its API."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.fakes.videos import FakeLuma, luma_failed
from videos.providers.base import Done, Failed, Pending, VideoError, VideoErrorKind, VideoRequest
from videos.providers.luma import URL_IMAGE_TYPE, LumaProvider, price_per_second

from .conftest import PNG

VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"luma-video" * 10
REQUEST = VideoRequest(prompt="A paper boat drifting down a gutter", duration_seconds=5)


@pytest.fixture
def fake() -> Iterator[FakeLuma]:
    with FakeLuma(api_key="luma-test", video=VIDEO) as server:
        yield server


def make(fake: FakeLuma, client: httpx.AsyncClient, **options: object) -> LumaProvider:
    return LumaProvider(
        "luma", {"api_key": "luma-test", "base_url": fake.api_url, **options}, client=client
    )


async def test_submit_posts_the_generation_and_reads_the_201(fake, client):
    operation = await make(fake, client).submit(
        VideoRequest(
            prompt="A paper boat",
            duration_seconds=9,
            aspect_ratio="9:16",
            seed=4,
            negative_prompt="x",
        )
    )

    [request] = fake.api_requests
    assert (request.method, request.path) == ("POST", "/dream-machine/v1/generations/video")
    assert request.headers["authorization"] == "Bearer luma-test"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "model": "ray-2",
        "prompt": "A paper boat",
        "aspect_ratio": "9:16",
        "duration": "9s",
        "resolution": "720p",
    }
    job_id = next(iter(fake.jobs))
    assert operation == {
        "generation_id": job_id,
        "model": "ray-2",
        "duration": 9,
        "resolution": "720p",
    }


async def test_queued_dreaming_completed_with_assets_only_once_completed(fake, client):
    provider = make(fake, client)
    operation = await provider.submit(REQUEST)

    queued = await provider.poll(operation)
    dreaming = await provider.poll(operation)
    done = await provider.poll(operation)

    assert queued == Pending(state="queued")
    assert dreaming == Pending(state="dreaming")
    assert isinstance(done, Done)
    assert done.url.startswith(f"{fake.base_url}/media/{operation['generation_id']}.mp4")
    assert f"/media/{operation['generation_id']}.jpg?_jwt=" in done.thumbnail_url
    assert done.details == {"generation_id": operation["generation_id"], "model": "ray-2"}
    download = await client.get(done.url)
    assert (download.status_code, download.content) == (200, VIDEO)
    polls = [r for r in fake.api_requests if r.method == "GET"]
    assert [r.path for r in polls] == [
        f"/dream-machine/v1/generations/{operation['generation_id']}"
    ] * 3
    assert all(r.headers["authorization"] == "Bearer luma-test" for r in polls)


async def test_processing_is_tolerated_as_pending(fake, client):
    fake.add_job("g1", [{"state": "processing", "assets": {"progress_video": None}}])
    result = await make(fake, client).poll({"generation_id": "g1"})
    assert result == Pending(state="processing")


@pytest.mark.parametrize(
    ("state", "kind", "retryable"),
    [
        (luma_failed("Prompt not allowed because it violates our policy"), "content_filter", False),
        (luma_failed("Failed content moderation"), "content_filter", False),
        (
            {"state": "failed", "failure_reason": "x", "failure_code": "content_moderated"},
            "content_filter",
            False,
        ),
        (luma_failed("Internal server error"), "unavailable", True),
        ({"state": "failed", "failure_reason": None}, "unavailable", True),
    ],
)
async def test_a_failed_generation_carries_its_reason_and_kind(
    fake, client, state, kind, retryable
):
    fake.add_job("g2", ["queued", state])
    provider = make(fake, client)
    assert isinstance(await provider.poll({"generation_id": "g2"}), Pending)

    failed = await provider.poll({"generation_id": "g2"})

    assert isinstance(failed, Failed)
    assert (failed.kind, failed.retryable, failed.cancelled) == (kind, retryable, False)
    assert failed.reason == (state["failure_reason"] or "the generation failed")


async def test_completed_without_a_video_is_a_retryable_failure(fake, client):
    fake.add_job("g3", [{"state": "completed", "assets": {"video": None}}])
    result = await make(fake, client).poll({"generation_id": "g3"})
    assert isinstance(result, Failed)
    assert result.retryable is True


async def test_cancel_deletes_the_generation_and_a_poll_after_it_is_cancelled(fake, client):
    provider = make(fake, client)
    operation = await provider.submit(REQUEST)
    await provider.poll(operation)

    await provider.cancel(operation)

    delete = fake.api_requests[-1]
    assert (delete.method, delete.path) == (
        "DELETE",
        f"/dream-machine/v1/generations/{operation['generation_id']}",
    )
    assert delete.headers["authorization"] == "Bearer luma-test"
    result = await provider.poll(operation)
    assert isinstance(result, Failed)
    assert result.cancelled is True
    await provider.cancel(operation)  # 404: already gone, nothing to do


async def test_an_expired_asset_url_is_replaced_by_polling_again(fake, client):
    provider = make(fake, client)
    fake.next_job(["completed"])
    operation = await provider.submit(REQUEST)
    first = await provider.poll(operation)
    assert isinstance(first, Done)
    fake.expire_outputs()
    assert (await client.get(first.url)).status_code == 403
    second = await provider.poll(operation)
    assert isinstance(second, Done)
    assert (await client.get(second.url)).status_code == 200


async def test_unknown_fields_are_ignored(fake, client):
    fake.add_job(
        "g4",
        [{"state": "completed", "assets": {"video": fake.url("/media/v.mp4")}, "brand_new": {}}],
    )
    result = await make(fake, client).poll({"generation_id": "g4"})
    assert isinstance(result, Done)
    assert result.thumbnail_url == ""


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (401, {"detail": "Invalid API key is provided"}, {}, VideoErrorKind.AUTH, None),
        (403, {"detail": "Forbidden"}, {}, VideoErrorKind.AUTH, None),
        (402, {"detail": "Payment required"}, {}, VideoErrorKind.QUOTA, None),
        (400, {"detail": "Insufficient credits"}, {}, VideoErrorKind.QUOTA, None),
        (400, {"detail": "Invalid aspect ratio"}, {}, VideoErrorKind.BAD_REQUEST, None),
        (
            422,
            {"detail": [{"loc": ["body", "duration"], "msg": "bad duration"}]},
            {},
            VideoErrorKind.BAD_REQUEST,
            None,
        ),
        (
            429,
            {"detail": "Too many requests"},
            {"retry-after": "12"},
            VideoErrorKind.RATE_LIMIT,
            12.0,
        ),
        (429, {"detail": "Too many requests"}, {}, VideoErrorKind.RATE_LIMIT, None),
        (500, {"detail": "Internal Server Error"}, {}, VideoErrorKind.UNAVAILABLE, None),
        (503, {"detail": "busy"}, {"retry-after": "2"}, VideoErrorKind.UNAVAILABLE, 2.0),
    ],
)
async def test_http_errors_read_the_detail_and_map_to_kinds(
    fake, client, status, body, headers, kind, retry_after
):
    fake.push(status, body, headers)
    with pytest.raises(VideoError) as caught:
        await make(fake, client).submit(REQUEST)
    error = caught.value
    assert (error.kind, error.retry_after, error.status_code) == (kind, retry_after, status)
    assert error.retryable is (kind in (VideoErrorKind.RATE_LIMIT, VideoErrorKind.UNAVAILABLE))
    if status == 422:
        assert "duration: bad duration" in error.message
    else:
        assert body["detail"] in error.message


async def test_a_wrong_key_is_auth(fake, client):
    with pytest.raises(VideoError) as caught:
        await make(fake, client, api_key="wrong").poll({"generation_id": "g1"})
    assert caught.value.kind == VideoErrorKind.AUTH
    assert "Invalid API key" in caught.value.message


@pytest.mark.parametrize(
    ("request_", "options", "expected"),
    [
        (VideoRequest(prompt="p", duration_seconds=6), {}, "it makes 5 s or 9 s clips"),
        (VideoRequest(prompt="p", duration_seconds=5.5), {}, "does not make 5.5 s clips"),
        (VideoRequest(prompt="p", model="ray-1-6", duration_seconds=9), {}, "it makes 5 s clips"),
        (VideoRequest(prompt="p", aspect_ratio="5:4"), {}, "it takes 16:9, 9:16, 1:1"),
        (VideoRequest(prompt="p", model="ray-3"), {}, "has no model 'ray-3'"),
        (VideoRequest(prompt="p"), {"resolution": "8k"}, "does not render at '8k'"),
        (VideoRequest(prompt="p", image=PNG, image_type="image/png"), {}, "image URL only"),
        (
            VideoRequest(
                prompt="p", image=b"data:image/png;base64,AAAA", image_type=URL_IMAGE_TYPE
            ),
            {},
            "as an http(s) URL",
        ),
    ],
)
async def test_requests_the_model_cannot_take_are_refused_before_any_request(
    fake, client, request_, options, expected
):
    with pytest.raises(VideoError) as caught:
        await make(fake, client, **options).submit(request_)
    assert caught.value.kind == VideoErrorKind.BAD_REQUEST
    assert caught.value.retryable is False
    assert expected in caught.value.message
    assert fake.api_requests == []


async def test_image_to_video_sends_the_image_url_as_the_first_keyframe(fake, client):
    url = "https://cdn.example.com/frames/hero.jpg"
    await make(fake, client, model="ray-flash-2", resolution="1080p").submit(
        VideoRequest(prompt="Slow zoom out", image=url.encode(), image_type=URL_IMAGE_TYPE)
    )
    body = fake.api_requests[0].json()
    assert body["model"] == "ray-flash-2"
    assert body["resolution"] == "1080p"
    assert body["keyframes"] == {"frame0": {"type": "image", "url": url}}


async def test_ray_1_6_is_sent_without_duration_or_resolution(fake, client):
    operation = await make(fake, client).submit(
        VideoRequest(prompt="Fog rolling in", model="luma-ray-1-6", aspect_ratio="21:9")
    )
    assert fake.api_requests[0].json() == {
        "model": "ray-1-6",
        "prompt": "Fog rolling in",
        "aspect_ratio": "21:9",
    }
    assert operation["model"] == "ray-1-6"


async def test_a_closed_port_is_a_network_error(client, closed_url):
    provider = LumaProvider("luma", {"api_key": "k", "base_url": closed_url}, client=client)
    with pytest.raises(VideoError) as caught:
        await provider.submit(REQUEST)
    assert (caught.value.kind, caught.value.retryable) == (VideoErrorKind.NETWORK, True)


async def test_a_slow_answer_is_a_timeout(fake):
    fake.push(delay=0.5)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.05)) as impatient:
        with pytest.raises(VideoError) as caught:
            await make(fake, impatient).poll({"generation_id": "g1"})
    assert caught.value.kind == VideoErrorKind.TIMEOUT


def test_configuration_catalogue_and_prices():
    assert LumaProvider("luma", {}).is_configured() is False
    assert LumaProvider("luma", {"api_key": "luma-x"}).is_configured() is True
    assert "LUMA_API_KEY" in LumaProvider.how_to_configure
    assert LumaProvider("luma", {}).base_url == "https://api.lumalabs.ai/dream-machine/v1"

    specs = {spec.name: spec for spec in LumaProvider("luma", {}).models()}
    assert list(specs) == ["luma", "luma-ray-2", "luma-ray-flash-2", "luma-ray-1-6"]
    assert specs["luma"].provider_model == "ray-2"
    assert specs["luma"].durations == (5.0, 9.0)
    assert specs["luma"].max_duration_seconds == 9.0
    assert "21:9" in specs["luma"].ratios
    assert specs["luma-ray-1-6"].durations == (5.0,)
    assert specs["luma"].image_to_video is False

    assert price_per_second("ray-2", "540p") == Decimal("0.10")
    assert price_per_second("ray-2") == Decimal("0.20")
    assert price_per_second("ray-flash-2", "1080p") == Decimal("0.16")
    assert price_per_second("ray-2", "4k") is None
    assert price_per_second("ray-1-6") is None
