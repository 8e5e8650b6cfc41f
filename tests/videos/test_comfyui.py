"""A self-hosted ComfyUI running the studio's workflows, against a loopback fake of its HTTP API
and WebSocket."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.videos_comfy import FakeComfyUI
from videos.providers import comfyui
from videos.providers.base import Done, Failed, Pending, VideoError, VideoErrorKind, VideoRequest
from videos.providers.comfyui import (
    WORKFLOW_DIR,
    WORKFLOWS,
    ComfyUIProvider,
    SocketNews,
    find_video,
    listen,
    load_graph,
)


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        yield http


def make(comfy: FakeComfyUI, client: httpx.AsyncClient, **options: Any) -> ComfyUIProvider:
    return ComfyUIProvider(
        "self_hosted",
        {"base_url": comfy.base_url, "ws_url": comfy.ws_url, **options},
        client=client,
    )


def ask(model: str = "self_hosted", **fields: Any) -> VideoRequest:
    return VideoRequest(prompt="A paper boat drifting down a rainy street", model=model, **fields)


def posted_graph(comfy: FakeComfyUI, index: int = 0) -> dict[str, Any]:
    return comfy.calls("POST", "/prompt")[index].json()["prompt"]


# the shipped workflows


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_shipped_workflows_bind_the_right_nodes(name):
    graph = json.loads((WORKFLOW_DIR / f"{name}.json").read_text())
    workflow = WORKFLOWS[name]
    assert graph[workflow.save_node] == {
        "class_type": "SaveVideo",
        "inputs": {
            "video": [graph[workflow.save_node]["inputs"]["video"][0], 0],
            "filename_prefix": graph[workflow.save_node]["inputs"]["filename_prefix"],
            "format": "mp4",
            "codec": "h264",
        },
    }
    create = graph[workflow.save_node]["inputs"]["video"][0]
    assert graph[create]["class_type"] == "CreateVideo"
    assert graph[workflow.prompt[0]]["class_type"] == "CLIPTextEncode"
    for slot in (workflow.prompt, workflow.seed, workflow.length, workflow.width, workflow.height):
        assert slot[1] in graph[slot[0]]["inputs"]
    for node_id, node in graph.items():
        for value in node["inputs"].values():
            if isinstance(value, list):
                assert str(value[0]) in graph, f"{name}: node {node_id} links to a missing node"


def test_catalogue(comfy, client):
    provider = make(comfy, client)
    specs = {spec.name: spec for spec in provider.models()}
    assert list(specs) == ["self_hosted", "self_hosted_hunyuan"]
    assert specs["self_hosted"].provider_model == "ltxv_t2v"
    assert specs["self_hosted"].max_duration_seconds == 10.0
    assert specs["self_hosted_hunyuan"].max_duration_seconds == 5.0
    assert specs["self_hosted"].ratios == ("16:9", "9:16", "1:1")
    assert provider.is_configured()
    assert not ComfyUIProvider("self_hosted", {}).is_configured()
    assert "SELF_HOSTED_SERVER" in provider.how_to_configure
    assert provider.ws_url == comfy.ws_url
    assert ComfyUIProvider("s", {"base_url": "https://gpu.example/comfy/"}).ws_url == (
        "wss://gpu.example/comfy/ws"
    )


# submit


async def test_ltx_submit_fills_prompt_negative_seed_length_and_size(comfy, client):
    provider = make(comfy, client)
    operation = await provider.submit(
        ask(negative_prompt="text, watermark", seed=1234, duration_seconds=5, aspect_ratio="9:16")
    )
    graph = posted_graph(comfy)
    assert graph["3"]["inputs"]["text"] == "A paper boat drifting down a rainy street"
    assert graph["4"]["inputs"]["text"] == "text, watermark"
    assert graph["9"]["inputs"]["noise_seed"] == 1234
    assert graph["6"]["inputs"] == {"width": 576, "height": 1024, "length": 129, "batch_size": 1}
    assert graph["5"]["inputs"]["frame_rate"] == 25
    assert graph["11"]["inputs"]["fps"] == 25
    assert graph["12"]["inputs"]["format"] == "mp4"
    body = comfy.calls("POST", "/prompt")[0].json()
    assert body["client_id"] == operation["client_id"]
    assert body["prompt_id"] == operation["prompt_id"]
    assert operation == {
        "prompt_id": operation["prompt_id"],
        "client_id": operation["client_id"],
        "model": "self_hosted",
        "workflow": "ltxv_t2v",
        "save_node": "12",
        "seed": 1234,
        "frames": 129,
        "fps": 25,
        "width": 576,
        "height": 1024,
    }
    assert comfy.prompts[operation["prompt_id"]].client_id == operation["client_id"]


async def test_ltx_keeps_its_own_negative_prompt_when_none_is_given(comfy, client):
    await make(comfy, client).submit(ask(duration_seconds=2, aspect_ratio="1:1"))
    graph = posted_graph(comfy)
    assert graph["4"]["inputs"]["text"].startswith("low quality, worst quality")
    assert graph["6"]["inputs"]["length"] == 57
    assert (graph["6"]["inputs"]["width"], graph["6"]["inputs"]["height"]) == (768, 768)


async def test_hunyuan_submit_fills_its_nodes(comfy, client):
    provider = make(comfy, client)
    operation = await provider.submit(
        ask("self_hosted_hunyuan", seed=9, duration_seconds=3, negative_prompt="ignored")
    )
    graph = posted_graph(comfy)
    assert graph["4"]["inputs"]["text"] == "A paper boat drifting down a rainy street"
    assert graph["11"]["inputs"]["noise_seed"] == 9
    assert graph["6"]["inputs"] == {"width": 848, "height": 480, "length": 73, "batch_size": 1}
    assert graph["14"]["inputs"]["fps"] == 24
    assert "ignored" not in json.dumps(graph)
    assert operation["save_node"] == "15"
    assert operation["frames"] == 73


@pytest.mark.parametrize(
    ("workflow", "seconds", "frames"),
    [
        ("ltxv_t2v", 0.1, 9),
        ("ltxv_t2v", 3.84, 97),
        ("ltxv_t2v", 3.9, 105),
        ("ltxv_t2v", 10, 257),
        ("ltxv_t2v", 60, 257),
        ("hunyuan_t2v", 1, 25),
        ("hunyuan_t2v", 5, 121),
        ("hunyuan_t2v", 9, 129),
    ],
)
def test_frame_counts_follow_each_models_step(workflow, seconds, frames):
    assert WORKFLOWS[workflow].frames(seconds) == frames


async def test_settings_change_node_inputs(comfy, client):
    provider = make(
        comfy,
        client,
        models={"self_hosted": {"workflow": "ltxv_t2v", "inputs": {"7": {"steps": 20}}}},
    )
    await provider.submit(ask())
    assert posted_graph(comfy)["7"]["inputs"]["steps"] == 20
    assert load_graph("ltxv_t2v")["7"]["inputs"]["steps"] == 30


async def test_idempotency_key_gives_the_same_prompt_and_no_second_post(comfy, client):
    provider = make(comfy, client)
    first = await provider.submit(ask(idempotency_key="job-7:attempt-1"))
    again = await provider.submit(ask(idempotency_key="job-7:attempt-1"))
    assert again == first
    assert len(comfy.calls("POST", "/prompt")) == 1
    assert comfy.calls("GET", f"/history/{first['prompt_id']}")
    other = await provider.submit(ask(idempotency_key="job-8:attempt-1"))
    assert other["prompt_id"] != first["prompt_id"]
    assert other["seed"] != first["seed"]


async def test_idempotent_resubmit_after_the_prompt_finished(comfy, client):
    provider = make(comfy, client)
    first = await provider.submit(ask(idempotency_key="job-9"))
    comfy.start()
    comfy.succeed()
    assert await provider.submit(ask(idempotency_key="job-9")) == first
    assert len(comfy.calls("POST", "/prompt")) == 1


async def test_without_a_key_each_submit_is_a_new_prompt(comfy, client):
    provider = make(comfy, client)
    first = await provider.submit(ask())
    second = await provider.submit(ask())
    assert first["prompt_id"] != second["prompt_id"]
    assert first["client_id"] != second["client_id"]


async def test_node_errors_name_the_node(client):
    only_the_encoder = frozenset({"t5xxl_fp16.safetensors"})
    with FakeComfyUI(installed=only_the_encoder) as comfy, pytest.raises(VideoError) as caught:
        await make(comfy, client).submit(ask())
    error = caught.value
    assert error.kind == VideoErrorKind.BAD_REQUEST
    assert error.retryable is False
    assert error.status_code == 400
    assert "node 1 (CheckpointLoaderSimple)" in error.message
    assert "Value not in list" in error.message
    assert "ltx-video-2b-v0.9.5.safetensors" in error.message


async def test_no_outputs_and_unknown_nodes(comfy, client, tmp_path, monkeypatch):
    graph = load_graph("ltxv_t2v")
    del graph["12"]
    (tmp_path / "ltxv_t2v.json").write_text(json.dumps(graph))
    (tmp_path / "hunyuan_t2v.json").write_text(
        (WORKFLOW_DIR / "hunyuan_t2v.json").read_text().replace("SaveVideo", "SaveVideoPro")
    )
    monkeypatch.setattr(comfyui, "WORKFLOW_DIR", Path(tmp_path))
    comfyui._graph_text.cache_clear()
    try:
        provider = make(comfy, client)
        with pytest.raises(VideoError) as caught:
            await provider.submit(ask())
        assert "no output node" in caught.value.message
        assert caught.value.kind == VideoErrorKind.BAD_REQUEST
        with pytest.raises(VideoError) as caught:
            await provider.submit(ask("self_hosted_hunyuan"))
        assert "SaveVideoPro does not exist" in caught.value.message
    finally:
        comfyui._graph_text.cache_clear()


async def test_bad_input_is_refused_before_any_call(comfy, client):
    provider = make(comfy, client)
    with pytest.raises(VideoError) as caught:
        await provider.submit(ask(aspect_ratio="4:3"))
    assert caught.value.kind == VideoErrorKind.BAD_REQUEST
    with pytest.raises(VideoError):
        await provider.submit(ask(image=b"\xff\xd8", image_type="image/jpeg"))
    with pytest.raises(VideoError):
        await provider.submit(ask("wan"))
    assert comfy.requests == []


# poll


async def test_queued_then_running_with_progress_then_done(comfy, client):
    provider = make(comfy, client)
    earlier = await provider.submit(ask())
    operation = await provider.submit(ask(seed=5))
    queued = await provider.poll(operation)
    assert isinstance(queued, Pending)
    assert queued.state == "queued"
    assert queued.message == "1 prompt ahead in ComfyUI's queue"

    comfy.start(earlier["prompt_id"])
    comfy.succeed(earlier["prompt_id"])
    comfy.start(operation["prompt_id"])
    comfy.set_progress(12, 30)
    running = await provider.poll(operation)
    assert isinstance(running, Pending)
    assert running.state == "running"
    assert running.progress == 40.0
    assert running.message == "running node 9 (SamplerCustom)"
    visit = comfy.sockets[-1]
    assert visit.client_id == operation["client_id"]

    comfy.succeed(operation["prompt_id"])
    done = await provider.poll(operation)
    assert isinstance(done, Done)
    assert done.url == (
        f"{comfy.base_url}/view?filename=aura_00001_.mp4&subfolder=video&type=output"
    )
    assert done.content_type == "video/mp4"
    assert done.details["seed"] == 5
    assert done.details["frames"] == operation["frames"]
    async with httpx.AsyncClient() as download:
        assert (await download.get(done.url)).content == comfy.video


async def test_history_is_the_source_of_truth(comfy, client):
    provider = make(comfy, client)
    operation = await provider.submit(ask())
    comfy.start()
    comfy.succeed()
    before = len(comfy.sockets)
    done = await provider.poll(operation)
    assert isinstance(done, Done)
    assert len(comfy.sockets) == before
    assert [r.path for r in comfy.requests[-1:]] == [f"/history/{operation['prompt_id']}"]


async def test_binary_previews_and_progress_state_are_read_through(comfy, client):
    provider = make(comfy, client)
    operation = await provider.submit(ask())
    comfy.start()
    comfy.set_progress(3, 30)
    url = f"{comfy.ws_url}?clientId={operation['client_id']}"
    news = await listen(url, operation["prompt_id"], headers={}, budget=2.0)
    assert news.previews == 2
    assert news.progress == 10.0
    assert news.node == "9"
    assert news.reported


def test_socket_news_reads_endings_and_skips_other_prompts():
    news = SocketNews()
    news.take(
        json.dumps({"type": "progress", "data": {"value": 1, "max": 2, "prompt_id": "x"}}), "p"
    )
    assert news.progress is None
    news.take(b"\x00\x00\x00\x03junk", "p")
    news.take(b"\x00\x00", "p")
    news.take("not json", "p")
    news.take(json.dumps({"type": "executing", "data": {"node": None, "prompt_id": "p"}}), "p")
    assert news.ended == "finished"
    news.take(json.dumps({"type": "execution_error", "data": {"prompt_id": "p"}}), "p")
    assert news.ended == "error"
    assert news.settled


async def test_a_quiet_socket_does_not_hold_the_poll(client):
    with FakeComfyUI(ws_mode="quiet") as comfy:
        provider = make(comfy, client, progress_timeout=0.2)
        operation = await provider.submit(ask())
        comfy.start()
        started = time.monotonic()
        running = await provider.poll(operation)
        took = time.monotonic() - started
    assert isinstance(running, Pending)
    assert running.state == "running"
    assert running.progress is None
    assert took < 1.0


async def test_no_websocket_server_still_polls(comfy, client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = make(comfy, client, ws_url=f"ws://127.0.0.1:{port}/ws")
    operation = await provider.submit(ask())
    comfy.start()
    running = await provider.poll(operation)
    assert isinstance(running, Pending)
    assert running.state == "running"
    assert running.progress is None
    off = make(comfy, client, websocket=False)
    sockets = len(comfy.sockets)
    assert isinstance(await off.poll(operation), Pending)
    assert len(comfy.sockets) == sockets


async def test_execution_error_is_failed_with_the_message(comfy, client):
    provider = make(comfy, client)
    operation = await provider.submit(ask())
    comfy.start()
    comfy.fail(message="Allocation on device 0 would exceed allowed memory.")
    failed = await provider.poll(operation)
    assert isinstance(failed, Failed)
    assert failed.reason == (
        "node 9 (SamplerCustom): Allocation on device 0 would exceed allowed memory."
    )
    assert failed.code == "torch.OutOfMemoryError"
    assert failed.retryable is False
    assert not failed.cancelled


async def test_older_server_without_execution_success(client):
    with FakeComfyUI(legacy=True) as comfy:
        provider = make(comfy, client)
        operation = await provider.submit(ask())
        comfy.start()
        comfy.succeed()
        assert isinstance(await provider.poll(operation), Done)


async def test_vhs_gifs_output_and_non_video_outputs(comfy, client):
    provider = make(comfy, client)
    operation = await provider.submit(ask())
    comfy.start()
    comfy.succeed(output="vhs")
    done = await provider.poll(operation)
    assert isinstance(done, Done)
    assert "filename=aura_00001.mp4" in done.url
    second = await provider.submit(ask())
    comfy.start()
    comfy.succeed(output="webp")
    failed = await provider.poll(second)
    assert isinstance(failed, Failed)
    assert failed.code == "no_video_output"


def test_find_video_prefers_the_save_node():
    outputs = {
        "3": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]},
        "7": {"videos": [{"filename": "other.webm", "subfolder": "", "type": "output"}]},
        "12": {"images": [{"filename": "ours.mp4", "subfolder": "video", "type": "output"}]},
    }
    assert (find_video(outputs, "12") or {}).get("filename") == "ours.mp4"
    assert (find_video(outputs, "7") or {}).get("filename") == "other.webm"
    assert find_video({"3": outputs["3"]}) is None
    assert find_video(None) is None


async def test_a_prompt_the_server_lost(comfy, client):
    provider = make(comfy, client)
    operation = await provider.submit(ask())
    comfy.prompts.clear()
    lost = await provider.poll(operation)
    assert isinstance(lost, Failed)
    assert lost.code == "lost"
    assert lost.retryable is True


# cancel


async def test_cancel_a_running_prompt_deletes_and_interrupts(comfy, client):
    provider = make(comfy, client)
    operation = await provider.submit(ask())
    comfy.start()
    await provider.cancel(operation)
    assert comfy.calls("POST", "/queue")[0].json() == {"delete": [operation["prompt_id"]]}
    assert comfy.calls("POST", "/interrupt")[0].json() == {"prompt_id": operation["prompt_id"]}
    failed = await provider.poll(operation)
    assert isinstance(failed, Failed)
    assert failed.cancelled
    assert failed.code == "interrupted"


async def test_cancel_a_queued_prompt_never_interrupts_another(comfy, client):
    provider = make(comfy, client)
    someone_else = await provider.submit(ask())
    operation = await provider.submit(ask())
    comfy.start(someone_else["prompt_id"])
    await provider.cancel(operation)
    assert comfy.calls("POST", "/queue")[0].json() == {"delete": [operation["prompt_id"]]}
    assert comfy.calls("POST", "/interrupt") == []
    assert comfy.prompts[operation["prompt_id"]].state == "deleted"
    assert comfy.prompts[someone_else["prompt_id"]].state == "running"
    await provider.cancel(operation)


# a proxy with a key, and the network


async def test_bearer_key_goes_on_every_call_and_the_socket(client):
    with FakeComfyUI(api_key="proxy-key") as comfy:
        provider = make(comfy, client, api_key="proxy-key")
        operation = await provider.submit(ask())
        comfy.start()
        comfy.set_progress(1, 2)
        assert isinstance(await provider.poll(operation), Pending)
        assert all(r.headers["authorization"] == "Bearer proxy-key" for r in comfy.requests)
        assert comfy.sockets[-1].headers["authorization"] == "Bearer proxy-key"
        comfy.succeed()
        done = await provider.poll(operation)
        assert isinstance(done, Done)
        assert provider.download_headers(done.url) == {"authorization": "Bearer proxy-key"}
        assert provider.download_headers("https://elsewhere.test/x.mp4") == {}
        with pytest.raises(VideoError) as caught:
            await make(comfy, client).submit(ask())
        assert caught.value.kind == VideoErrorKind.AUTH


async def test_nothing_listening_is_a_network_error(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = ComfyUIProvider(
        "self_hosted", {"base_url": f"http://127.0.0.1:{port}"}, client=client
    )
    with pytest.raises(VideoError) as caught:
        await provider.submit(ask())
    assert caught.value.kind == VideoErrorKind.NETWORK
    assert caught.value.retryable is True
    with pytest.raises(VideoError) as caught:
        await provider.poll({"prompt_id": "p", "client_id": "c"})
    assert caught.value.kind == VideoErrorKind.NETWORK
    with pytest.raises(VideoError) as caught:
        await provider.cancel({"prompt_id": "p"})
    assert caught.value.kind == VideoErrorKind.NETWORK
