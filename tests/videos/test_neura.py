"""The custom video server's adapter against a loopback fake of its protocol (the README, "The
custom video server")."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.videos import FakeNeura, neura_failed
from videos.providers.base import Done, Failed, Pending, VideoError, VideoErrorKind, VideoRequest
from videos.providers.neura import URL_IMAGE_TYPE, NeuraProvider

from .conftest import JPEG

VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"neura-video" * 10
REQUEST = VideoRequest(
    prompt="A drone shot over dunes", duration_seconds=6.5, idempotency_key="job-7:attempt-1"
)


@pytest.fixture
def fake() -> Iterator[FakeNeura]:
    with FakeNeura(api_key="neura-test", video=VIDEO) as server:
        yield server


def make(fake: FakeNeura, client: httpx.AsyncClient, **options: object) -> NeuraProvider:
    return NeuraProvider(
        "neura", {"api_key": "neura-test", "base_url": fake.base_url, **options}, client=client
    )


async def test_submit_sends_the_contract_body_with_the_key_and_the_idempotency_key(fake, client):
    operation = await make(fake, client).submit(
        VideoRequest(
            prompt="A drone shot over dunes",
            duration_seconds=6.5,
            aspect_ratio="9:16",
            negative_prompt="blur",
            seed=11,
            idempotency_key="job-7:attempt-1",
        )
    )

    [request] = fake.api_requests
    assert (request.method, request.path) == ("POST", "/api/v1/video/generate")
    assert request.headers["x-neura-api-key"] == "neura-test"
    assert request.json() == {
        "prompt": "A drone shot over dunes",
        "duration": 6.5,
        "aspect_ratio": "9:16",
        "model": "neura-video-v1",
        "negative_prompt": "blur",
        "seed": 11,
        "idempotency_key": "job-7:attempt-1",
    }
    assert operation == {
        "task_id": next(iter(fake.jobs)),
        "model": "neura-video-v1",
        "idempotency_key": "job-7:attempt-1",
    }


async def test_a_resubmit_with_the_same_key_gets_the_same_task(fake, client):
    provider = make(fake, client)
    first = await provider.submit(REQUEST)
    again = await provider.submit(REQUEST)
    other = await provider.submit(VideoRequest(prompt="Another", idempotency_key="job-8"))

    assert again["task_id"] == first["task_id"]
    assert other["task_id"] != first["task_id"]
    assert len(fake.jobs) == 2


async def test_poll_maps_queued_processing_and_completed_with_its_details(fake, client):
    provider = make(fake, client)
    operation = await provider.submit(REQUEST)

    queued = await provider.poll(operation)
    processing = await provider.poll(operation)
    done = await provider.poll(operation)

    assert queued == Pending(progress=None, state="queued")
    assert processing == Pending(progress=50.0, state="processing")
    assert isinstance(done, Done)
    assert done.cost_usd == "0.25"
    assert f"/media/{operation['task_id']}.jpg?_jwt=" in done.thumbnail_url
    assert done.details == {"duration": 5.0, "width": 1280, "height": 720, "fps": 24}
    download = await client.get(done.url)
    assert (download.status_code, download.content) == (200, VIDEO)
    polls = [r for r in fake.api_requests if r.method == "GET"]
    assert [r.path for r in polls] == [f"/api/v1/task/{operation['task_id']}"] * 3
    assert all(r.headers["x-neura-api-key"] == "neura-test" for r in polls)


async def test_a_seed_style_server_with_only_status_and_result_url(client):
    with FakeNeura(api_key="", seed_style=True, states=["processing", "completed"]) as fake:
        provider = NeuraProvider("neura", {"base_url": fake.base_url}, client=client)
        operation = await provider.submit(VideoRequest(prompt="Old server"))
        processing = await provider.poll(operation)
        done = await provider.poll(operation)
        submitted = fake.api_requests[0]

    assert "x-neura-api-key" not in submitted.headers
    assert processing == Pending(progress=None, state="processing")
    assert isinstance(done, Done)
    assert done.url.startswith(fake.base_url)
    assert (done.thumbnail_url, done.cost_usd, done.details) == ("", "", {})


@pytest.mark.parametrize(
    ("progress", "percent"), [(0, 0.0), (0.25, 25.0), (1, 100.0), (40, 40.0), (250, 100.0)]
)
async def test_progress_is_a_fraction_or_tolerated_as_a_percentage(fake, client, progress, percent):
    fake.add_job("t1", [{"status": "processing", "progress": progress}])
    result = await make(fake, client).poll({"task_id": "t1"})
    assert isinstance(result, Pending)
    assert result.progress == pytest.approx(percent)


@pytest.mark.parametrize(
    ("state", "kind", "retryable"),
    [
        (neura_failed("content_filter", "nsfw", retryable=True), "content_filter", False),
        (neura_failed("bad_request", "bad frame"), "bad_request", False),
        (neura_failed("overloaded", "GPU busy", retryable=True), "unavailable", True),
        (neura_failed("internal", "CUDA OOM", retryable=False), "unavailable", False),
        (neura_failed("timeout", "took too long", retryable=True), "timeout", True),
        ({"status": "failed", "error": {"code": "internal", "message": "x"}}, "unavailable", True),
        (
            {"status": "failed", "error": {"code": "bad_request", "message": "x"}},
            "bad_request",
            False,
        ),
        ({"status": "failed", "error": "segfault"}, "unavailable", True),
        ({"status": "failed"}, "unavailable", True),
    ],
)
async def test_failed_tasks_carry_the_kind_and_retryable_of_their_error(
    fake, client, state, kind, retryable
):
    fake.add_job("f1", [state])
    failed = await make(fake, client).poll({"task_id": "f1"})
    assert isinstance(failed, Failed)
    assert (failed.kind, failed.retryable, failed.cancelled) == (kind, retryable, False)


async def test_an_unknown_task_is_a_retryable_failure(fake, client):
    result = await make(fake, client).poll({"task_id": "never-submitted"})
    assert isinstance(result, Failed)
    assert (result.code, result.retryable, result.cancelled) == ("not_found", True, False)


async def test_cancel_is_idempotent_and_the_task_then_shows_cancelled(fake, client):
    provider = make(fake, client)
    fake.next_job(["queued", "processing"])
    operation = await provider.submit(REQUEST)
    await provider.poll(operation)

    await provider.cancel(operation)
    await provider.cancel(operation)

    deletes = [r for r in fake.api_requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"/api/v1/task/{operation['task_id']}"] * 2
    assert all(r.headers["x-neura-api-key"] == "neura-test" for r in deletes)
    result = await provider.poll(operation)
    assert isinstance(result, Failed)
    assert result.cancelled is True


async def test_cancelling_a_completed_task_409_is_nothing_to_cancel(fake, client):
    provider = make(fake, client)
    fake.next_job(["completed"])
    operation = await provider.submit(REQUEST)
    assert isinstance(await provider.poll(operation), Done)

    await provider.cancel(operation)

    assert fake.requests[-1].method == "DELETE"
    assert isinstance(await provider.poll(operation), Done)
    await provider.cancel({"task_id": "unknown"})  # 404: nothing to cancel either


async def test_an_expired_result_url_is_replaced_by_polling_again(fake, client):
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


async def test_health(fake, client, closed_url):
    assert await make(fake, client).health() is True
    fake.healthy = False
    assert await make(fake, client).health() is False
    unreachable = NeuraProvider("neura", {"base_url": closed_url}, client=client)
    assert await unreachable.health() is False
    assert await NeuraProvider("neura", {}, client=client).health() is False


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (401, {"error": {"code": "auth", "message": "bad key"}}, {}, VideoErrorKind.AUTH, None),
        (402, {"error": {"code": "quota", "message": "no credit"}}, {}, VideoErrorKind.QUOTA, None),
        (
            400,
            {"error": {"code": "bad_request", "message": "no"}},
            {},
            VideoErrorKind.BAD_REQUEST,
            None,
        ),
        (
            400,
            {"error": {"code": "content_filter", "message": "prompt refused"}},
            {},
            VideoErrorKind.CONTENT_FILTER,
            None,
        ),
        (422, {"error": "unprocessable"}, {}, VideoErrorKind.BAD_REQUEST, None),
        (
            429,
            {"error": {"code": "rate_limit", "message": "slow"}},
            {"retry-after": "4"},
            VideoErrorKind.RATE_LIMIT,
            4.0,
        ),
        (
            503,
            {"error": {"code": "overloaded", "message": "busy"}},
            {"retry-after": "9"},
            VideoErrorKind.UNAVAILABLE,
            9.0,
        ),
        (500, b"Internal Server Error", {}, VideoErrorKind.UNAVAILABLE, None),
    ],
)
async def test_http_errors_map_to_kinds(fake, client, status, body, headers, kind, retry_after):
    fake.push(status, body, headers)
    with pytest.raises(VideoError) as caught:
        await make(fake, client).submit(REQUEST)
    error = caught.value
    assert (error.kind, error.retry_after, error.status_code) == (kind, retry_after, status)
    assert error.provider == "neura"


async def test_a_wrong_key_is_auth(fake, client):
    with pytest.raises(VideoError) as caught:
        await make(fake, client, api_key="wrong").submit(REQUEST)
    assert caught.value.kind == VideoErrorKind.AUTH


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (VideoRequest(prompt="p", aspect_ratio="4:3"), "it takes 16:9, 9:16, 1:1"),
        (VideoRequest(prompt="p", duration_seconds=12), "up to 10 s, not 12 s"),
        (VideoRequest(prompt="p", duration_seconds=0), "not 0 s"),
        (VideoRequest(prompt="  "), "needs a prompt"),
        (VideoRequest(prompt="p", image=b"GIF89a", image_type="image/gif"), "not image/gif"),
        (VideoRequest(prompt="p", image=b"ftp://x", image_type=URL_IMAGE_TYPE), "not an image URL"),
    ],
)
async def test_requests_the_server_cannot_take_are_refused_before_any_request(
    fake, client, request_, expected
):
    with pytest.raises(VideoError) as caught:
        await make(fake, client).submit(request_)
    assert caught.value.kind == VideoErrorKind.BAD_REQUEST
    assert expected in caught.value.message
    assert fake.api_requests == []


async def test_image_to_video_sends_a_data_uri_or_a_url(fake, client):
    provider = make(fake, client, max_duration_seconds=20, fps=30)
    await provider.submit(VideoRequest(prompt="Spin", image=JPEG, duration_seconds=15))
    await provider.submit(
        VideoRequest(
            prompt="Spin", image=b"https://cdn.example.com/a.png", image_type=URL_IMAGE_TYPE
        )
    )
    first, second = (r.json() for r in fake.api_requests)
    assert first["image"] == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    assert (first["duration"], first["fps"]) == (15, 30)
    assert second["image"] == "https://cdn.example.com/a.png"


async def test_unknown_fields_are_ignored(fake, client):
    fake.add_job(
        "x1", [{"status": "completed", "result_url": fake.url("/media/x1.mp4"), "gpu": "A100"}]
    )
    result = await make(fake, client).poll({"task_id": "x1"})
    assert isinstance(result, Done)


async def test_a_closed_port_is_a_network_error(client, closed_url):
    provider = NeuraProvider("neura", {"base_url": closed_url}, client=client)
    with pytest.raises(VideoError) as caught:
        await provider.submit(REQUEST)
    assert (caught.value.kind, caught.value.retryable) == (VideoErrorKind.NETWORK, True)


async def test_a_slow_answer_is_a_timeout(fake):
    fake.push(delay=0.5)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.05)) as impatient:
        with pytest.raises(VideoError) as caught:
            await make(fake, impatient).poll({"task_id": "t1"})
    assert caught.value.kind == VideoErrorKind.TIMEOUT


def test_configuration_and_catalogue():
    assert NeuraProvider("neura", {}).is_configured() is False
    assert NeuraProvider("neura", {"api_key": "only-a-key"}).is_configured() is False
    assert NeuraProvider("neura", {"base_url": "http://10.0.0.5:9000"}).is_configured() is True
    assert "NEURA_AI_SERVER" in NeuraProvider.how_to_configure
    [spec] = NeuraProvider("neura", {"base_url": "http://gpu", "max_duration_seconds": 30}).models()
    assert (spec.name, spec.provider_model, spec.max_duration_seconds) == (
        "neura",
        "neura-video-v1",
        30.0,
    )
    assert spec.durations == ()
    assert (spec.text_to_video, spec.image_to_video) == (True, True)
