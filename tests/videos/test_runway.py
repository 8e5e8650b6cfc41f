"""Runway's adapter against a loopback fake of its API (tasks, states, failures, cancel, URLs)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.fakes.videos import FakeRunway, runway_failed, runway_validation_error
from videos.providers.base import Done, Failed, Pending, VideoError, VideoErrorKind, VideoRequest
from videos.providers.runway import API_VERSION, RunwayProvider, price_per_second

from .conftest import JPEG, PNG

VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"runway-video" * 10
REQUEST = VideoRequest(prompt="A lighthouse at dusk, slow push in", duration_seconds=5, seed=7)


@pytest.fixture
def fake() -> Iterator[FakeRunway]:
    with FakeRunway(api_key="key_test", video=VIDEO) as server:
        yield server


def make(fake: FakeRunway, client: httpx.AsyncClient, **options: object) -> RunwayProvider:
    return RunwayProvider(
        "runway", {"api_key": "key_test", "base_url": fake.base_url, **options}, client=client
    )


async def poll_until_ended(provider: RunwayProvider, operation: dict, limit: int = 50):
    seen = []
    for _ in range(limit):
        result = await provider.poll(operation)
        seen.append(result)
        if not isinstance(result, Pending):
            return seen
    raise AssertionError(f"still pending after {limit} polls: {seen[-1]}")


async def test_text_to_video_submit_sends_the_body_and_headers_runway_expects(fake, client):
    operation = await make(fake, client).submit(REQUEST)

    [request] = fake.api_requests
    assert (request.method, request.path) == ("POST", "/v1/text_to_video")
    assert request.headers["authorization"] == "Bearer key_test"
    assert request.headers["x-runway-version"] == API_VERSION == "2024-11-06"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "model": "gen4.5",
        "promptText": "A lighthouse at dusk, slow push in",
        "ratio": "1280:720",
        "duration": 5,
        "seed": 7,
    }
    job = fake.jobs[operation["task_id"]]
    assert operation == {
        "task_id": job.id,
        "model": "gen4.5",
        "endpoint": "text_to_video",
        "ratio": "1280:720",
        "duration": 5,
    }


async def test_poll_maps_pending_running_and_succeeded_and_the_url_downloads(fake, client):
    provider = make(fake, client)
    operation = await provider.submit(REQUEST)

    pending, running, done = await poll_until_ended(provider, operation)

    assert pending == Pending(progress=None, state="PENDING", retry_after=5.0)
    assert isinstance(running, Pending)
    assert running.state == "RUNNING"
    assert running.progress == pytest.approx(42.0)
    assert isinstance(done, Done)
    assert done.url.startswith(f"{fake.base_url}/media/{operation['task_id']}.mp4?_jwt=")
    assert done.cost_usd == "0.60"
    assert done.details["task_id"] == operation["task_id"]
    download = await client.get(done.url)
    assert download.status_code == 200
    assert download.content == VIDEO
    assert all(r.path == f"/v1/tasks/{operation['task_id']}" for r in fake.api_requests[1:])
    assert all(r.headers["x-runway-version"] == API_VERSION for r in fake.api_requests)


async def test_a_long_throttled_task_stays_pending_until_it_runs(fake, client):
    provider = make(fake, client)
    fake.next_job(["PENDING", *["THROTTLED"] * 25, {"status": "RUNNING"}, "SUCCEEDED"])
    operation = await provider.submit(REQUEST)

    seen = await poll_until_ended(provider, operation)

    throttled = [r for r in seen if isinstance(r, Pending) and r.state == "THROTTLED"]
    assert len(throttled) == 25
    assert all(r.message and r.progress is None for r in throttled)
    assert seen[-2] == Pending(progress=None, state="RUNNING", retry_after=5.0)
    assert isinstance(seen[-1], Done)


@pytest.mark.parametrize(
    ("progress", "percent"), [(0, 0.0), (0.02, 2.0), (0.5, 50.0), (1, 100.0), (1.7, 100.0)]
)
async def test_float_progress_becomes_a_percentage(fake, client, progress, percent):
    fake.add_job("t1", [{"status": "RUNNING", "progress": progress}])
    result = await make(fake, client).poll({"task_id": "t1"})
    assert isinstance(result, Pending)
    assert result.progress == pytest.approx(percent)


@pytest.mark.parametrize(
    ("code", "kind", "retryable"),
    [
        ("SAFETY.INPUT.TEXT", VideoErrorKind.CONTENT_FILTER, False),
        ("SAFETY.OUTPUT.VIDEO", VideoErrorKind.CONTENT_FILTER, False),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", VideoErrorKind.CONTENT_FILTER, False),
        ("ASSET.INVALID", VideoErrorKind.BAD_REQUEST, False),
        ("INTERNAL.BAD_OUTPUT.CODE01", VideoErrorKind.UNAVAILABLE, True),
        ("INTERNAL", VideoErrorKind.UNAVAILABLE, True),
        ("INPUT_PREPROCESSING.INTERNAL", VideoErrorKind.UNAVAILABLE, True),
        ("THIRD_PARTY.UNAVAILABLE", VideoErrorKind.UNAVAILABLE, True),
        ("", VideoErrorKind.UNAVAILABLE, True),
    ],
)
async def test_failed_tasks_carry_the_kind_of_their_failure_code(
    fake, client, code, kind, retryable
):
    fake.add_job("f1", ["PENDING", runway_failed("Something went wrong.", code)])
    provider = make(fake, client)

    seen = await poll_until_ended(provider, {"task_id": "f1"})

    failed = seen[-1]
    assert isinstance(failed, Failed)
    assert (failed.code, failed.kind, failed.retryable, failed.cancelled) == (
        code,
        kind,
        retryable,
        False,
    )
    assert "Something went wrong." in failed.reason


@pytest.mark.parametrize("word", ["CANCELLED", "CANCELED"])
async def test_a_cancelled_task_is_failed_as_cancelled(fake, client, word):
    fake.add_job("c1", [word])
    result = await make(fake, client).poll({"task_id": "c1"})
    assert isinstance(result, Failed)
    assert result.cancelled is True
    assert result.retryable is False


async def test_cancel_deletes_the_task_and_a_poll_after_it_reads_the_404_as_cancelled(fake, client):
    provider = make(fake, client)
    fake.next_job(["RUNNING"])
    operation = await provider.submit(REQUEST)
    assert isinstance(await provider.poll(operation), Pending)

    await provider.cancel(operation)

    delete = fake.api_requests[-1]
    assert (delete.method, delete.path) == ("DELETE", f"/v1/tasks/{operation['task_id']}")
    assert delete.headers["authorization"] == "Bearer key_test"
    assert delete.headers["x-runway-version"] == API_VERSION
    result = await provider.poll(operation)
    assert isinstance(result, Failed)
    assert result.cancelled is True
    assert "no longer exists" in result.reason
    await provider.cancel(operation)  # already gone: nothing to do


async def test_a_server_that_keeps_a_cancelled_task_shows_it_cancelled(client):
    with FakeRunway(after_delete="CANCELLED", states=["RUNNING"]) as fake:
        provider = make(fake, client)
        operation = await provider.submit(REQUEST)
        await provider.cancel(operation)
        result = await provider.poll(operation)
    assert isinstance(result, Failed)
    assert (result.cancelled, result.code) == (True, "CANCELLED")


async def test_an_expired_output_url_is_replaced_by_polling_again(fake, client):
    provider = make(fake, client)
    fake.next_job(["SUCCEEDED"])
    operation = await provider.submit(REQUEST)
    first = await provider.poll(operation)
    assert isinstance(first, Done)
    assert (await client.get(first.url)).status_code == 200

    fake.expire_outputs()

    assert (await client.get(first.url)).status_code == 403
    second = await provider.poll(operation)
    assert isinstance(second, Done)
    assert second.url != first.url
    fresh = await client.get(second.url)
    assert (fresh.status_code, fresh.content) == (200, VIDEO)


async def test_extra_unknown_fields_are_ignored(fake, client):
    fake.add_job(
        "x1",
        [
            {"status": "RUNNING", "progress": 0.25, "estimatedCost": {"credits": 9}, "eta": [1, 2]},
            {"status": "SUCCEEDED", "cost": {"credits": 12}, "artifacts": {"kind": "new"}},
        ],
    )
    provider = make(fake, client)
    running, done = await poll_until_ended(provider, {"task_id": "x1", "unknown": True})
    assert isinstance(running, Pending)
    assert running.progress == pytest.approx(25.0)
    assert isinstance(done, Done)
    assert done.cost_usd == "0.12"


async def test_429_gives_rate_limit_with_the_retry_after_it_names(fake, client):
    provider = make(fake, client)
    fake.push(429, {"error": "You have exceeded your daily limit"}, {"retry-after": "7"})
    fake.push(429, {"error": "Too many requests"})

    with pytest.raises(VideoError) as with_header:
        await provider.submit(REQUEST)
    with pytest.raises(VideoError) as without_header:
        await provider.submit(REQUEST)

    assert with_header.value.kind == VideoErrorKind.RATE_LIMIT
    assert with_header.value.retryable is True
    assert with_header.value.retry_after == 7.0
    assert with_header.value.status_code == 429
    assert "daily limit" in with_header.value.message
    assert without_header.value.kind == VideoErrorKind.RATE_LIMIT
    assert without_header.value.retry_after is None


async def test_a_poll_answered_429_raises_rate_limit(fake, client):
    fake.add_job("t1", ["RUNNING"])
    fake.push(429, {"error": "slow down"}, {"retry-after": "3"}, method="GET")
    with pytest.raises(VideoError) as caught:
        await make(fake, client).poll({"task_id": "t1"})
    assert (caught.value.kind, caught.value.retry_after) == (VideoErrorKind.RATE_LIMIT, 3.0)


async def test_400_names_the_issues_runway_found(fake, client):
    fake.push(
        400,
        runway_validation_error("ratio", 'Invalid option: expected one of "1280:720"|"720:1280"'),
    )
    with pytest.raises(VideoError) as caught:
        await make(fake, client).submit(REQUEST)
    error = caught.value
    assert (error.kind, error.retryable, error.status_code) == (
        VideoErrorKind.BAD_REQUEST,
        False,
        400,
    )
    assert "Validation of body failed" in error.message
    assert 'ratio: Invalid option: expected one of "1280:720"' in error.message


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (401, {"error": "Invalid API key"}, VideoErrorKind.AUTH, False),
        (403, {"error": "Account suspended"}, VideoErrorKind.AUTH, False),
        (402, {"error": "Payment required"}, VideoErrorKind.QUOTA, False),
        (
            400,
            {"error": "You do not have enough credits to run this task."},
            VideoErrorKind.QUOTA,
            False,
        ),
        (413, {"error": "Payload too large"}, VideoErrorKind.BAD_REQUEST, False),
        (422, {"error": "Unprocessable"}, VideoErrorKind.BAD_REQUEST, False),
        (500, {"error": "Internal"}, VideoErrorKind.UNAVAILABLE, True),
        (502, b"<html>bad gateway</html>", VideoErrorKind.UNAVAILABLE, True),
        (503, {"error": "Load shedding"}, VideoErrorKind.UNAVAILABLE, True),
        (504, {"error": "Overloaded"}, VideoErrorKind.TIMEOUT, True),
    ],
)
async def test_http_errors_map_to_kinds(fake, client, status, body, kind, retryable):
    fake.push(status, body)
    with pytest.raises(VideoError) as caught:
        await make(fake, client).submit(REQUEST)
    assert (caught.value.kind, caught.value.retryable) == (kind, retryable)
    assert caught.value.provider == "runway"


async def test_a_wrong_key_is_auth(fake, client):
    with pytest.raises(VideoError) as caught:
        await make(fake, client, api_key="key_wrong").submit(REQUEST)
    assert caught.value.kind == VideoErrorKind.AUTH
    assert "Invalid API key" in caught.value.message


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (VideoRequest(prompt="p", aspect_ratio="1:1"), "takes 16:9, 9:16"),
        (VideoRequest(prompt="p", aspect_ratio="4:5"), "does not make '4:5'"),
        (VideoRequest(prompt="p", duration_seconds=11), "whole seconds from 2 to 10"),
        (VideoRequest(prompt="p", duration_seconds=1), "whole seconds from 2 to 10"),
        (VideoRequest(prompt="p", duration_seconds=5.5), "does not make 5.5 s clips"),
        (VideoRequest(prompt="p", model="veo3", duration_seconds=5), "8 s only"),
        (VideoRequest(prompt="p", model="veo3.1", duration_seconds=5), "4, 6 or 8 s"),
        (VideoRequest(prompt="p", model="gen4_turbo"), "image-to-video only"),
        (VideoRequest(prompt="p", model="gen3a_turbo"), "has no model 'gen3a_turbo'"),
        (VideoRequest(prompt="x" * 1001), "prompts up to 1000"),
        (VideoRequest(prompt="😀" * 501), "this one has 1002"),
        (VideoRequest(prompt="p", seed=-1), "seeds are 0 to 4294967295"),
        (VideoRequest(prompt="p", image=b"GIF89a...", image_type="image/gif"), "not image/gif"),
        (
            VideoRequest(prompt="p", image=PNG + b"\x00" * 3_800_000, image_type="image/png"),
            "up to 5 MB",
        ),
        (
            VideoRequest(prompt="p", model="gen4_turbo", image=PNG, aspect_ratio="5:4"),
            "takes 16:9, 9:16, 4:3, 3:4, 1:1, 21:9",
        ),
    ],
)
async def test_requests_the_model_cannot_take_are_refused_before_any_request(
    fake, client, request_, expected
):
    with pytest.raises(VideoError) as caught:
        await make(fake, client).submit(request_)
    assert caught.value.kind == VideoErrorKind.BAD_REQUEST
    assert caught.value.retryable is False
    assert expected in caught.value.message
    assert fake.api_requests == []


async def test_image_to_video_sends_the_image_as_a_data_uri(fake, client):
    provider = make(fake, client)
    request = VideoRequest(
        prompt="The lamp turns", image=PNG, image_type="image/png", aspect_ratio="1:1"
    )

    operation = await provider.submit(request)

    [sent] = fake.api_requests
    assert sent.path == "/v1/image_to_video"
    body = sent.json()
    assert body["model"] == "gen4.5"
    assert body["ratio"] == "960:960"
    assert body["promptText"] == "The lamp turns"
    assert body["promptImage"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert operation["endpoint"] == "image_to_video"


async def test_gen4_turbo_takes_an_image_and_the_media_type_is_sniffed(fake, client):
    provider = make(fake, client)
    await provider.submit(
        VideoRequest(prompt="Waves", model="runway-gen4_turbo", image=JPEG, duration_seconds=10)
    )
    body = fake.api_requests[0].json()
    assert body["model"] == "gen4_turbo"
    assert body["duration"] == 10
    assert body["promptImage"].startswith("data:image/jpeg;base64,")


async def test_veo_takes_a_negative_prompt_and_a_runway_resolution_but_no_seed(fake, client):
    provider = make(fake, client)
    await provider.submit(
        VideoRequest(
            prompt="Rain on glass",
            model="veo3.1_fast",
            duration_seconds=6,
            aspect_ratio="1920:1080",
            negative_prompt="text, watermark",
            seed=3,
        )
    )
    body = fake.api_requests[0].json()
    assert body == {
        "model": "veo3.1_fast",
        "promptText": "Rain on glass",
        "ratio": "1920:1080",
        "duration": 6,
        "negativePrompt": "text, watermark",
    }


async def test_a_task_id_missing_from_a_200_is_unavailable(fake, client):
    fake.push(200, {"estimatedCost": {"credits": 60}})
    with pytest.raises(VideoError) as caught:
        await make(fake, client).submit(REQUEST)
    assert caught.value.kind == VideoErrorKind.UNAVAILABLE


async def test_a_poll_answer_that_is_not_json_is_unavailable(fake, client):
    fake.push(200, b"<html>maintenance</html>", {"content-type": "text/html"})
    with pytest.raises(VideoError) as caught:
        await make(fake, client).poll({"task_id": "t1"})
    assert caught.value.kind == VideoErrorKind.UNAVAILABLE
    assert caught.value.retryable is True


async def test_a_closed_port_is_a_network_error(client, closed_url):
    provider = RunwayProvider("runway", {"api_key": "k", "base_url": closed_url}, client=client)
    with pytest.raises(VideoError) as caught:
        await provider.submit(REQUEST)
    assert (caught.value.kind, caught.value.retryable) == (VideoErrorKind.NETWORK, True)


async def test_a_slow_answer_is_a_timeout(fake):
    fake.push(delay=0.5)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.05)) as impatient:
        with pytest.raises(VideoError) as caught:
            await make(fake, impatient).poll({"task_id": "t1"})
    assert (caught.value.kind, caught.value.retryable) == (VideoErrorKind.TIMEOUT, True)


def test_configuration_catalogue_and_prices():
    assert RunwayProvider("runway", {}).is_configured() is False
    assert RunwayProvider("runway", {"api_key": ""}).is_configured() is False
    assert RunwayProvider("runway", {"api_key": "key_x"}).is_configured() is True
    assert "RUNWAY_API_KEY" in RunwayProvider.how_to_configure
    assert RunwayProvider("runway", {}).base_url == "https://api.dev.runwayml.com"

    specs = {spec.name: spec for spec in RunwayProvider("runway", {}).models()}
    assert list(specs) == [
        "runway",
        "runway-gen4.5",
        "runway-gen4_turbo",
        "runway-veo3.1",
        "runway-veo3.1_fast",
        "runway-veo3",
    ]
    assert specs["runway"].provider_model == "gen4.5"
    assert specs["runway"].durations == tuple(float(d) for d in range(2, 11))
    assert specs["runway"].ratios == ("16:9", "9:16")
    assert specs["runway"].max_duration_seconds == 10.0
    assert (specs["runway"].text_to_video, specs["runway"].image_to_video) == (True, True)
    turbo = specs["runway-gen4_turbo"]
    assert (turbo.text_to_video, turbo.image_to_video) == (False, True)
    assert "1:1" in turbo.ratios
    assert specs["runway-veo3"].durations == (8.0,)
    assert specs["runway-veo3.1"].durations == (4.0, 6.0, 8.0)
    chosen = {s.name: s for s in RunwayProvider("runway", {"model": "veo3"}).models()}
    assert chosen["runway"].provider_model == "veo3"

    assert price_per_second("gen4.5") == Decimal("0.12")
    assert price_per_second("gen4_turbo") == Decimal("0.05")
    assert price_per_second("veo3") == Decimal("0.40")
    assert price_per_second("veo3.1_fast") == Decimal("0.15")
    assert price_per_second("no-such-model") is None
