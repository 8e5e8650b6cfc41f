"""Hugging Face text-to-video (fal-ai queue and replicate predictions through the router, the
Hub's provider mapping) against a loopback fake speaking those wire formats."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fakes.providers import HANG, FakeProviderServer, Reply
from tests.fakes.videos_hf import (
    VIDEO,
    Answer,
    FakeHuggingFace,
    FalPlan,
    ReplicatePlan,
    as_list,
    fal_completed,
    fal_mapping,
    fal_queued,
    fal_result_error,
    fal_running,
    rep_aborted,
    rep_failed,
    rep_processing,
    rep_starting,
    rep_succeeded,
    replicate_mapping,
)
from videos.providers.base import Done, Failed, Pending, VideoError, VideoErrorKind, VideoRequest
from videos.providers.huggingface import HuggingFaceProvider, Route, pick_route

HUNYUAN_FAL = {"fal-ai": fal_mapping("fal-ai/hunyuan-video")}
LTX_VERSION = "8c47da666861d081eeb4d1261853087de23923a268a69b63febdf5dc1dee08e4"
LTX_REPLICATE = f"lightricks/ltx-video:{LTX_VERSION}"


@pytest.fixture
def hf() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        yield http


def make(hf: FakeHuggingFace, client: httpx.AsyncClient, **options: Any) -> HuggingFaceProvider:
    return HuggingFaceProvider(
        "huggingface",
        {"api_key": hf.token, "base_url": hf.base_url, "hub_url": hf.base_url, **options},
        client=client,
    )


def ask(model: str = "hunyuan", **fields: Any) -> VideoRequest:
    return VideoRequest(prompt="A lighthouse in a storm, slow push in", model=model, **fields)


async def poll_until_final(provider: HuggingFaceProvider, operation: dict) -> list[Any]:
    seen: list[Any] = []
    for _ in range(10):
        result = await provider.poll(operation)
        seen.append(result)
        if not isinstance(result, Pending):
            return seen
    raise AssertionError(f"never final: {seen}")


# the catalogue


def test_catalogue_names_labels_and_prices(hf, client):
    provider = make(hf, client)
    specs = {spec.name: spec for spec in provider.models()}
    assert list(specs) == ["hunyuan", "cogvideox", "ltx"]
    assert specs["hunyuan"].label == "HunyuanVideo"
    assert specs["hunyuan"].provider_model == "tencent/HunyuanVideo"
    assert specs["cogvideox"].label == "CogVideoX-5B"
    assert specs["cogvideox"].provider_model == "zai-org/CogVideoX-5b"
    assert specs["ltx"].label == "LTX-Video"
    assert all(0 < spec.max_duration_seconds <= 6 for spec in specs.values())
    assert provider.price_per_clip("cogvideox") == Decimal("0.20")
    assert provider.price_per_clip("hunyuan") is None
    assert provider.price_per_clip("nope") is None
    assert provider.is_configured()
    assert not HuggingFaceProvider("huggingface", {}).is_configured()
    assert "HF_TOKEN" in provider.how_to_configure


def test_models_from_settings_with_fixed_routes(hf, client):
    provider = make(
        hf,
        client,
        models={
            "hunyuan": {
                "repo": "tencent/HunyuanVideo",
                "provider": "fal-ai",
                "provider_model": "fal-ai/hunyuan-video",
            },
            "cogvideox": {
                "repo": "zai-org/CogVideoX-5b",
                "provider": "fal-ai",
                "provider_model": "fal-ai/cogvideox-5b",
                "price_per_clip": "0.25",
            },
            "ltx": "Lightricks/LTX-Video",
        },
    )
    assert [m.name for m in provider.models()] == ["hunyuan", "cogvideox", "ltx"]
    assert provider.price_per_clip("cogvideox") == Decimal("0.25")
    assert provider.models()[0].label == "HunyuanVideo"


# the provider mapping


def test_pick_route_prefers_fal_then_replicate_and_skips_errors():
    both = {
        "replicate": fal_mapping(LTX_REPLICATE),
        "fal-ai": fal_mapping("fal-ai/ltx-video"),
    }
    assert pick_route(both) == Route("fal-ai", "fal-ai/ltx-video")
    assert pick_route(as_list(both)) == Route("fal-ai", "fal-ai/ltx-video")
    broken_fal = {**both, "fal-ai": fal_mapping("fal-ai/ltx-video", status="error")}
    assert pick_route(broken_fal) == Route("replicate", LTX_REPLICATE)
    assert pick_route({"novita": fal_mapping("wan-t2v")}) is None
    assert pick_route({"fal-ai": fal_mapping("fal-ai/flux/dev", task="text-to-image")}) is None
    assert pick_route(None) is None
    assert pick_route([]) is None


@pytest.mark.parametrize("form", ["dict", "list"])
async def test_mapping_is_looked_up_in_either_form(hf, client, form):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL if form == "dict" else as_list(HUNYUAN_FAL))
    operation = await make(hf, client).submit(ask())
    assert operation["provider"] == "fal-ai"
    assert operation["provider_model"] == "fal-ai/hunyuan-video"
    lookup = hf.requests_to("/api/models/")[0]
    assert lookup.path == "/api/models/tencent/HunyuanVideo"
    assert lookup.query["expand"] == ["inferenceProviderMapping"]
    assert lookup.headers["authorization"] == f"Bearer {hf.token}"


@pytest.mark.parametrize(
    "mapping",
    [
        None,
        {},
        {"fal-ai": fal_mapping("fal-ai/cogvideox-5b", status="error")},
        [{"provider": "fal-ai", "providerId": "fal-ai/cogvideox-5b", "status": "error"}],
    ],
    ids=["missing", "empty", "error-dict", "error-list"],
)
async def test_a_model_no_provider_serves_fails_clearly(hf, client, mapping):
    hf.map_model("zai-org/CogVideoX-5b", mapping)
    with pytest.raises(VideoError) as caught:
        await make(hf, client).submit(ask("cogvideox"))
    error = caught.value
    assert error.kind == VideoErrorKind.BAD_REQUEST
    assert error.retryable is False
    assert error.message == (
        "CogVideoX-5B is not served by any Hugging Face inference provider right now"
    )
    assert hf.requests_to("/fal-ai/") == []


async def test_served_only_by_providers_the_studio_does_not_call(hf, client):
    hf.map_model("zai-org/CogVideoX-5b", {"novita": fal_mapping("cogvideox")})
    with pytest.raises(VideoError) as caught:
        await make(hf, client).submit(ask("cogvideox"))
    assert "not served by any Hugging Face inference provider" in caught.value.message
    assert "novita" in caught.value.message


async def test_a_repo_the_hub_does_not_know(hf, client):
    with pytest.raises(VideoError) as caught:
        await make(hf, client).submit(ask("ltx"))
    assert caught.value.kind == VideoErrorKind.BAD_REQUEST
    assert "Lightricks/LTX-Video" in caught.value.message


async def test_fixed_route_skips_the_lookup(hf, client):
    provider = make(
        hf,
        client,
        models={
            "hunyuan": {
                "repo": "tencent/HunyuanVideo",
                "provider": "fal-ai",
                "provider_model": "fal-ai/hunyuan-video",
            }
        },
    )
    operation = await provider.submit(ask())
    assert operation["provider_model"] == "fal-ai/hunyuan-video"
    assert hf.requests_to("/api/models/") == []


async def test_bad_token_is_auth(hf, client):
    provider = make(hf, client, api_key="hf_wrong")
    with pytest.raises(VideoError) as caught:
        await provider.submit(ask())
    assert caught.value.kind == VideoErrorKind.AUTH
    assert caught.value.retryable is False
    assert "Invalid credentials" in caught.value.message


async def test_unknown_model_and_image_input_are_refused(hf, client):
    provider = make(hf, client)
    with pytest.raises(VideoError) as caught:
        await provider.submit(ask("sora"))
    assert caught.value.kind == VideoErrorKind.BAD_REQUEST
    with pytest.raises(VideoError) as caught:
        await provider.submit(ask(image=b"\x89PNG", image_type="image/png"))
    assert caught.value.kind == VideoErrorKind.BAD_REQUEST
    assert hf.requests == []


# fal-ai through the router's queue


async def test_fal_queue_to_video(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    hf.plan_fal(FalPlan([fal_queued(3), fal_queued(0), fal_running("step 3/30"), fal_completed()]))
    provider = make(hf, client)
    operation = await provider.submit(
        ask(negative_prompt="blurry", seed=11, duration_seconds=5, aspect_ratio="9:16")
    )
    rid = operation["request_id"]
    assert operation == {
        "provider": "fal-ai",
        "model": "hunyuan",
        "repo": "tencent/HunyuanVideo",
        "provider_model": "fal-ai/hunyuan-video",
        "request_id": rid,
        "status_path": f"/fal-ai/hunyuan-video/requests/{rid}/status",
        "response_path": f"/fal-ai/hunyuan-video/requests/{rid}",
        "cancel_path": f"/fal-ai/hunyuan-video/requests/{rid}/cancel",
    }
    submit = hf.requests_to("/fal-ai/", "POST")[0]
    assert submit.path == "/fal-ai/fal-ai/hunyuan-video"
    assert submit.query["_subdomain"] == ["queue"]
    assert submit.headers["authorization"] == f"Bearer {hf.token}"
    assert hf.fal_jobs[rid].body == {
        "prompt": "A lighthouse in a storm, slow push in",
        "negative_prompt": "blurry",
        "seed": 11,
        "aspect_ratio": "9:16",
        "num_frames": "129",
    }

    seen = await poll_until_final(provider, operation)
    assert [type(s) for s in seen] == [Pending, Pending, Pending, Done]
    assert seen[0].state == "IN_QUEUE"
    assert "position 3" in seen[0].message
    assert seen[2].state == "IN_PROGRESS"
    assert seen[2].message == "step 3/30"
    done = seen[-1]
    assert done.url == hf.url(f"/files/{rid}.mp4")
    assert done.content_type == "video/mp4"
    assert done.details["seed"] == 7
    status_calls = hf.requests_to("/fal-ai/fal-ai/hunyuan-video/requests/", "GET")
    assert all(r.query["_subdomain"] == ["queue"] for r in status_calls)
    assert status_calls[-1].path == f"/fal-ai/fal-ai/hunyuan-video/requests/{rid}"
    async with httpx.AsyncClient() as download:
        assert (await download.get(done.url)).content == hf.video


async def test_fal_sub_path_is_dropped_for_status_and_result(hf, client):
    endpoint = "fal-ai/ltx-video-13b-dev/text-to-video"
    hf.map_model("Lightricks/LTX-Video", {"fal-ai": fal_mapping(endpoint)})
    hf.plan_fal(FalPlan([fal_completed()]))
    provider = make(hf, client)
    operation = await provider.submit(ask("ltx"))
    assert hf.requests_to("/fal-ai/", "POST")[0].path == f"/fal-ai/{endpoint}"
    assert operation["status_path"].startswith("/fal-ai/ltx-video-13b-dev/requests/")
    result = await provider.poll(operation)
    assert isinstance(result, Done)


async def test_fal_long_in_queue_stays_pending(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    hf.plan_fal(FalPlan([fal_queued(40)]))
    provider = make(hf, client)
    operation = await provider.submit(ask())
    for _ in range(5):
        result = await provider.poll(operation)
        assert isinstance(result, Pending)
        assert result.state == "IN_QUEUE"
        assert "position 40" in result.message
    polls = hf.requests_to("/fal-ai/fal-ai/hunyuan-video/requests/", "GET")
    assert all(r.path.endswith("/status") for r in polls)


@pytest.mark.parametrize(
    ("error", "error_type", "kind", "retryable"),
    [
        ("Runner crashed", "runner_server_error", VideoErrorKind.UNAVAILABLE, True),
        ("Request timed out", "request_timeout", VideoErrorKind.TIMEOUT, True),
        ("NSFW content detected", "content_policy_violation", VideoErrorKind.CONTENT_FILTER, False),
        ("Invalid input", "bad_request", VideoErrorKind.BAD_REQUEST, False),
    ],
)
async def test_fal_completed_with_an_error_is_failed(
    hf, client, error, error_type, kind, retryable
):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    hf.plan_fal(FalPlan([fal_running(), fal_completed(error, error_type)]))
    provider = make(hf, client)
    operation = await provider.submit(ask())
    seen = await poll_until_final(provider, operation)
    failed = seen[-1]
    assert isinstance(failed, Failed)
    assert failed.reason == error
    assert failed.code == error_type
    assert failed.kind == kind
    assert failed.retryable is retryable
    assert not [r for r in hf.requests if r.path == "/fal-ai" + operation["response_path"]]


async def test_fal_result_422_detail_list_is_a_bad_request_failure(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    detail = [{"loc": ["body", "num_frames"], "msg": "must be 85 or 129", "type": "value_error"}]
    hf.plan_fal(FalPlan([fal_completed()], result=fal_result_error(422, detail)))
    provider = make(hf, client)
    failed = await provider.poll(await provider.submit(ask()))
    assert isinstance(failed, Failed)
    assert failed.kind == VideoErrorKind.BAD_REQUEST
    assert failed.retryable is False
    assert failed.code == "value_error"
    assert "num_frames: must be 85 or 129" in failed.reason


async def test_fal_result_content_policy_detail_is_a_content_filter(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    detail = [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]
    hf.plan_fal(FalPlan([fal_completed()], result=fal_result_error(422, detail)))
    provider = make(hf, client)
    failed = await provider.poll(await provider.submit(ask()))
    assert isinstance(failed, Failed)
    assert failed.kind == VideoErrorKind.CONTENT_FILTER
    assert failed.retryable is False


async def test_fal_result_error_header_decides_retryable(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    hf.plan_fal(
        FalPlan(
            [fal_completed()],
            result=fal_result_error(503, "Runner disconnected", "runner_disconnected"),
        )
    )
    provider = make(hf, client)
    failed = await provider.poll(await provider.submit(ask()))
    assert isinstance(failed, Failed)
    assert failed.code == "runner_disconnected"
    assert failed.reason == "Runner disconnected"
    assert failed.kind == VideoErrorKind.UNAVAILABLE
    assert failed.retryable is True


async def test_fal_result_without_a_video_url_is_failed(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    hf.plan_fal(FalPlan([fal_completed()], result=Answer(200, {"images": []})))
    provider = make(hf, client)
    failed = await provider.poll(await provider.submit(ask()))
    assert isinstance(failed, Failed)
    assert failed.code == "no_video"


async def test_fal_router_trouble_while_polling_raises_retryable(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    provider = make(hf, client)
    operation = await provider.submit(ask())
    hf.fail_next("fal_status", 502, "<html>bad gateway</html>")
    with pytest.raises(VideoError) as caught:
        await provider.poll(operation)
    assert caught.value.kind == VideoErrorKind.UNAVAILABLE
    assert caught.value.retryable is True
    hf.fail_next("fal_status", 429, {"error": "slow down"}, {"retry-after": "7"})
    with pytest.raises(VideoError) as caught:
        await provider.poll(operation)
    assert caught.value.kind == VideoErrorKind.RATE_LIMIT
    assert caught.value.retry_after == 7.0
    assert isinstance(await provider.poll(operation), Pending)


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (402, {"error": "You have exceeded your monthly included credits"}, "quota", False),
        (429, {"error": "Too many requests"}, "rate_limit", True),
        (413, {"error": "Payload too large"}, "bad_request", False),
        (
            422,
            {"detail": [{"loc": ["body", "seed"], "msg": "not an int", "type": "int_type"}]},
            "bad_request",
            False,
        ),
        (503, {"error": "fal-ai is unavailable"}, "unavailable", True),
        (403, {"error": "not allowed to call inference providers"}, "auth", False),
    ],
)
async def test_fal_submit_errors_map_to_kinds(hf, client, status, body, kind, retryable):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    hf.fail_next("fal_submit", status, body, {"retry-after": "3"} if status == 429 else {})
    with pytest.raises(VideoError) as caught:
        await make(hf, client).submit(ask())
    assert caught.value.kind == kind
    assert caught.value.retryable is retryable
    assert caught.value.status_code == status
    if status == 429:
        assert caught.value.retry_after == 3.0
    if status == 422:
        assert "seed: not an int" in caught.value.message


async def test_fal_cancel_uses_the_cancel_url(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    hf.plan_fal(FalPlan([fal_queued(5)]))
    provider = make(hf, client)
    operation = await provider.submit(ask())
    await provider.cancel(operation)
    cancel = hf.requests_to("/fal-ai/fal-ai/hunyuan-video/requests/", "PUT")[0]
    assert cancel.path == "/fal-ai" + operation["cancel_path"]
    assert cancel.query["_subdomain"] == ["queue"]
    assert hf.fal_jobs[operation["request_id"]].cancelled


async def test_fal_cancel_after_completion_is_fine(hf, client):
    hf.map_model("tencent/HunyuanVideo", HUNYUAN_FAL)
    hf.plan_fal(FalPlan([fal_completed()]))
    provider = make(hf, client)
    operation = await provider.submit(ask())
    assert isinstance(await provider.poll(operation), Done)
    await provider.cancel(operation)
    await provider.cancel({**operation, "cancel_path": "/fal-ai/hunyuan-video/requests/zz/cancel"})


# replicate through the router


async def test_replicate_prefer_wait_comes_back_starting_then_succeeds(hf, client):
    hf.map_model("Lightricks/LTX-Video", {"replicate": fal_mapping(LTX_REPLICATE)})
    hf.plan_replicate(
        ReplicatePlan(
            [rep_starting(), rep_processing("  40%|####      | 12/30"), rep_succeeded(VIDEO)]
        )
    )
    provider = make(hf, client)
    operation = await provider.submit(ask("ltx", seed=3, negative_prompt="text, watermark"))
    pid = operation["prediction_id"]
    assert operation == {
        "provider": "replicate",
        "model": "ltx",
        "repo": "Lightricks/LTX-Video",
        "provider_model": LTX_REPLICATE,
        "prediction_id": pid,
    }
    create = hf.requests_to("/replicate/", "POST")[0]
    assert create.path == "/replicate/v1/predictions"
    assert create.headers["prefer"] == "wait=5"
    assert create.json() == {
        "version": LTX_VERSION,
        "input": {
            "prompt": "A lighthouse in a storm, slow push in",
            "negative_prompt": "text, watermark",
            "seed": 3,
        },
    }
    seen = await poll_until_final(provider, operation)
    assert isinstance(seen[0], Pending)
    assert seen[0].state == "processing"
    assert seen[0].progress == 40.0
    assert isinstance(seen[1], Done)
    assert seen[1].url == hf.url(f"/files/{pid}.mp4")
    assert hf.requests_to("/replicate/v1/predictions/", "GET")[0].path == (
        f"/replicate/v1/predictions/{pid}"
    )


async def test_replicate_output_list_takes_the_video(hf, client):
    hf.map_model("Lightricks/LTX-Video", as_list({"replicate": fal_mapping(LTX_REPLICATE)}))
    hf.plan_replicate(
        ReplicatePlan([rep_starting(), rep_succeeded(["https://x.test/cover.png", VIDEO])])
    )
    provider = make(hf, client)
    operation = await provider.submit(ask("ltx"))
    done = await provider.poll(operation)
    assert isinstance(done, Done)
    assert done.url.endswith(f"/files/{operation['prediction_id']}.mp4")


async def test_replicate_finished_within_the_wait(hf, client):
    hf.map_model("Lightricks/LTX-Video", {"replicate": fal_mapping(LTX_REPLICATE)})
    hf.plan_replicate(ReplicatePlan([rep_succeeded(VIDEO)]))
    provider = make(hf, client, prefer_wait=30)
    operation = await provider.submit(ask("ltx"))
    assert operation["prediction"]["status"] == "succeeded"
    assert hf.requests_to("/replicate/", "POST")[0].headers["prefer"] == "wait=30"
    done = await provider.poll(operation)
    assert isinstance(done, Done)
    assert hf.requests_to("/replicate/v1/predictions/", "GET") == []


@pytest.mark.parametrize(
    ("state", "code", "kind", "retryable", "cancelled"),
    [
        (rep_failed("CUDA out of memory"), "failed", VideoErrorKind.UNAVAILABLE, False, False),
        (
            rep_failed("NSFW content detected in the output"),
            "content_filter",
            VideoErrorKind.CONTENT_FILTER,
            False,
            False,
        ),
        (rep_aborted(), "aborted", VideoErrorKind.TIMEOUT, True, False),
        (
            {"status": "canceled", "output": None},
            "canceled",
            VideoErrorKind.UNAVAILABLE,
            False,
            True,
        ),
        (rep_succeeded(None), "no_output", VideoErrorKind.UNAVAILABLE, False, False),
    ],
)
async def test_replicate_endings(hf, client, state, code, kind, retryable, cancelled):
    hf.map_model("Lightricks/LTX-Video", {"replicate": fal_mapping(LTX_REPLICATE)})
    hf.plan_replicate(ReplicatePlan([rep_starting(), state]))
    provider = make(hf, client)
    failed = await provider.poll(await provider.submit(ask("ltx")))
    assert isinstance(failed, Failed)
    assert failed.code == code
    assert failed.kind == kind
    assert failed.retryable is retryable
    assert failed.cancelled is cancelled


async def test_replicate_prediction_gone_after_retention(hf, client):
    hf.map_model("Lightricks/LTX-Video", {"replicate": fal_mapping(LTX_REPLICATE)})
    hf.plan_replicate(ReplicatePlan([rep_starting(), rep_succeeded(VIDEO)]))
    provider = make(hf, client)
    operation = await provider.submit(ask("ltx"))
    done = await provider.poll(operation)
    assert isinstance(done, Done)
    hf.expire(operation["prediction_id"])
    async with httpx.AsyncClient() as download:
        assert (await download.get(done.url)).status_code == 404
    gone = await provider.poll(operation)
    assert isinstance(gone, Failed)
    assert gone.code == "not_found"
    assert "one hour" in gone.reason


async def test_replicate_unversioned_id_uses_the_model_route(hf, client):
    hf.map_model("Lightricks/LTX-Video", [replicate_mapping("lightricks/ltx-video")])
    provider = make(hf, client)
    operation = await provider.submit(ask("ltx"))
    create = hf.requests_to("/replicate/", "POST")[0]
    assert create.path == "/replicate/v1/models/lightricks/ltx-video/predictions"
    assert "version" not in create.json()
    assert hf.predictions[operation["prediction_id"]].model == "lightricks/ltx-video"


async def test_replicate_throttle_reads_the_wait_from_the_detail(hf, client):
    hf.map_model("Lightricks/LTX-Video", {"replicate": fal_mapping(LTX_REPLICATE)})
    hf.fail_next(
        "replicate_create",
        429,
        {"detail": "Request was throttled. Expected available in 2 seconds."},
    )
    with pytest.raises(VideoError) as caught:
        await make(hf, client).submit(ask("ltx"))
    assert caught.value.kind == VideoErrorKind.RATE_LIMIT
    assert caught.value.retry_after == 2.0
    assert "throttled" in caught.value.message


async def test_replicate_cancel(hf, client):
    hf.map_model("Lightricks/LTX-Video", {"replicate": fal_mapping(LTX_REPLICATE)})
    hf.plan_replicate(ReplicatePlan([rep_starting(), rep_processing()]))
    provider = make(hf, client)
    operation = await provider.submit(ask("ltx"))
    await provider.cancel(operation)
    cancel = hf.requests_to("/replicate/", "POST")[-1]
    assert cancel.path == f"/replicate/v1/predictions/{operation['prediction_id']}/cancel"
    after = await provider.poll(operation)
    assert isinstance(after, Failed)
    assert after.cancelled
    hf.expire(operation["prediction_id"])
    await provider.cancel(operation)


# the network


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_nothing_listening_is_a_network_error(client):
    url = f"http://127.0.0.1:{_closed_port()}"
    provider = HuggingFaceProvider(
        "huggingface", {"api_key": "hf_x", "base_url": url, "hub_url": url}, client=client
    )
    with pytest.raises(VideoError) as caught:
        await provider.submit(ask())
    assert caught.value.kind == VideoErrorKind.NETWORK
    assert caught.value.retryable is True
    with pytest.raises(VideoError) as caught:
        await provider.poll(
            {"provider": "fal-ai", "status_path": "/a/b/requests/r/status", "request_id": "r"}
        )
    assert caught.value.kind == VideoErrorKind.NETWORK


async def test_a_silent_router_is_a_timeout():
    with FakeProviderServer() as silent:
        silent.push(Reply(200, {"content-type": "application/json"}, [HANG]))
        async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as short:
            provider = HuggingFaceProvider(
                "huggingface",
                {
                    "api_key": "hf_x",
                    "base_url": silent.base_url,
                    "models": {
                        "hunyuan": {
                            "repo": "tencent/HunyuanVideo",
                            "provider": "fal-ai",
                            "provider_model": "fal-ai/hunyuan-video",
                        }
                    },
                },
                client=short,
            )
            with pytest.raises(VideoError) as caught:
                await provider.submit(ask())
    assert caught.value.kind == VideoErrorKind.TIMEOUT
    assert caught.value.retryable is True
