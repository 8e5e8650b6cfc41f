"""A self-hosted ComfyUI (``SELF_HOSTED_SERVER``) running the studio's own text-to-video
workflows (../shared/PROTOCOLS-VIDEO.md §9).

The studio ships two graphs in ComfyUI's API format, in ``videos/workflows/``; each ends in
``CreateVideo → SaveVideo`` (MP4, H.264) and uses only core nodes (ComfyUI 0.3.6x):

``ltxv_t2v.json`` (LTX-Video 2B 0.9.5: ``ltx-video-2b-v0.9.5.safetensors`` in
``models/checkpoints``, ``t5xxl_fp16.safetensors`` in ``models/text_encoders``), 25 fps:

- prompt → node ``3`` (``CLIPTextEncode``) ``text``;
- negative prompt → node ``4`` (``CLIPTextEncode``) ``text`` (the graph's own when none is given);
- seed → node ``9`` (``SamplerCustom``) ``noise_seed``;
- length → node ``6`` (``EmptyLTXVLatentVideo``) ``length``: duration x 25 fps, rounded up to
  8·k + 1 frames (9 to 257);
- width/height → node ``6`` ``width``/``height`` from the aspect ratio (16:9 1024x576, 9:16
  576x1024, 1:1 768x768; multiples of 32);
- fps → node ``5`` (``LTXVConditioning``) ``frame_rate`` and node ``11`` (``CreateVideo``) ``fps``;
- output → node ``12`` (``SaveVideo``).

``hunyuan_t2v.json`` (HunyuanVideo: ``hunyuan_video_t2v_720p_bf16.safetensors`` in
``models/diffusion_models``, ``clip_l.safetensors`` and ``llava_llama3_fp8_scaled.safetensors``
in ``models/text_encoders``, ``hunyuan_video_vae_bf16.safetensors`` in ``models/vae``), 24 fps:

- prompt → node ``4`` (``CLIPTextEncode``) ``text``;
- negative prompt → none: HunyuanVideo is guidance-distilled (``FluxGuidance`` node ``5`` and a
  ``BasicGuider``), so the graph has no negative conditioning and a negative prompt is not used;
- seed → node ``11`` (``RandomNoise``) ``noise_seed``;
- length → node ``6`` (``EmptyHunyuanLatentVideo``) ``length``: duration x 24 fps, rounded up to
  4·k + 1 frames (5 to 129);
- width/height → node ``6`` ``width``/``height`` (16:9 848x480, 9:16 480x848, 1:1 624x624;
  multiples of 16);
- fps → node ``14`` (``CreateVideo``) ``fps``;
- output → node ``15`` (``SaveVideo``).

A seed not given is drawn at random, or derived from the request's idempotency key so that a
resubmit posts the very same graph. Settings may change any other input per model (``inputs``:
node id → input → value), e.g. to name the checkpoint file actually installed.

Calls: ``submit`` posts ``POST /prompt`` ``{"prompt", "client_id", "prompt_id"}`` (with an
idempotency key the ids derive from it, and a prompt the server already has in ``/history`` or
``/queue`` is not posted again); ``poll`` reads ``GET /history/{prompt_id}`` (the source of
truth; ``{}`` until the prompt has finished), then ``GET /queue`` to tell queued from running, and
for a running prompt listens on ``/ws?clientId=`` for at most ``progress_timeout`` seconds (default
0.3) for a ``progress`` message; ``cancel`` posts ``POST /queue {"delete": [id]}`` and, when the
prompt is the one running, ``POST /interrupt {"prompt_id": id}`` (an older server that ignores the
body would otherwise interrupt someone else's prompt).

Options: ``base_url`` (SELF_HOSTED_SERVER), ``api_key`` (sent as ``Authorization: Bearer`` for a
proxy in front of ComfyUI, and with the download), ``ws_url`` (default: ``base_url`` with
``ws``/``wss`` and ``/ws``), ``progress_timeout``, ``websocket`` (false: no progress read), and
``models``: catalogue name → a workflow name or ``{"workflow", "label"?, "inputs"?}``.

The operation: ``{"prompt_id", "client_id", "model", "workflow", "save_node", "seed", "frames",
"fps", "width", "height"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import math
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect

from videos.providers.base import (
    Done,
    Failed,
    ModelSpec,
    Pending,
    PollResult,
    VideoErrorKind,
    VideoProvider,
    VideoRequest,
)
from videos.providers.wire import json_body, send, short, status_error

WORKFLOW_DIR = Path(__file__).resolve().parent.parent / "workflows"
PROMPT_NAMESPACE = uuid.UUID("6f1c2a64-3b1e-5d7a-9c55-2a9f4e0b7d21")
DEFAULT_PROGRESS_TIMEOUT = 0.3
VIDEO_SUFFIXES = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}
MAX_SEED = 2**48


@dataclass(frozen=True, slots=True)
class Workflow:
    """Where a shipped graph takes what a request asks for: ``(node id, input name)`` pairs."""

    name: str
    fps: int
    frame_step: int
    max_frames: int
    sizes: Mapping[str, tuple[int, int]]
    prompt: tuple[str, str]
    negative: tuple[str, str] | None
    seed: tuple[str, str]
    length: tuple[str, str]
    width: tuple[str, str]
    height: tuple[str, str]
    fps_inputs: tuple[tuple[str, str], ...]
    save_node: str

    @property
    def max_duration_seconds(self) -> float:
        return float(math.floor(self.max_frames / self.fps))

    def frames(self, duration_seconds: float) -> int:
        """The frame count for a duration: ``step·k + 1`` frames, at least one step, at most the
        model's maximum."""
        wanted = max(1, round(duration_seconds * self.fps))
        steps = max(1, math.ceil((wanted - 1) / self.frame_step))
        return min(steps * self.frame_step + 1, self.max_frames)


WORKFLOWS: dict[str, Workflow] = {
    "ltxv_t2v": Workflow(
        name="ltxv_t2v",
        fps=25,
        frame_step=8,
        max_frames=257,
        sizes={"16:9": (1024, 576), "9:16": (576, 1024), "1:1": (768, 768)},
        prompt=("3", "text"),
        negative=("4", "text"),
        seed=("9", "noise_seed"),
        length=("6", "length"),
        width=("6", "width"),
        height=("6", "height"),
        fps_inputs=(("5", "frame_rate"), ("11", "fps")),
        save_node="12",
    ),
    "hunyuan_t2v": Workflow(
        name="hunyuan_t2v",
        fps=24,
        frame_step=4,
        max_frames=129,
        sizes={"16:9": (848, 480), "9:16": (480, 848), "1:1": (624, 624)},
        prompt=("4", "text"),
        negative=None,
        seed=("11", "noise_seed"),
        length=("6", "length"),
        width=("6", "width"),
        height=("6", "height"),
        fps_inputs=(("14", "fps"),),
        save_node="15",
    ),
}


@cache
def _graph_text(name: str) -> str:
    return (WORKFLOW_DIR / f"{name}.json").read_text(encoding="utf-8")


def load_graph(name: str) -> dict[str, Any]:
    """A fresh copy of a shipped workflow graph."""
    graph: dict[str, Any] = json.loads(_graph_text(name))
    return graph


@dataclass(frozen=True, slots=True)
class ComfyModel:
    name: str
    label: str
    workflow: Workflow
    quality: str = ""
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


DEFAULT_MODELS: dict[str, ComfyModel] = {
    "self_hosted": ComfyModel(
        name="self_hosted",
        label="LTX-Video (self-hosted ComfyUI)",
        workflow=WORKFLOWS["ltxv_t2v"],
        quality="standard",
    ),
    "self_hosted_hunyuan": ComfyModel(
        name="self_hosted_hunyuan",
        label="HunyuanVideo (self-hosted ComfyUI)",
        workflow=WORKFLOWS["hunyuan_t2v"],
        quality="high",
    ),
}


def model_from_setting(name: str, value: Any) -> ComfyModel:
    if isinstance(value, str):
        value = {"workflow": value}
    if not isinstance(value, Mapping) or value.get("workflow") not in WORKFLOWS:
        raise ValueError(
            f"ComfyUI model {name!r}: 'workflow' must be one of {', '.join(WORKFLOWS)}"
        )
    workflow = WORKFLOWS[str(value["workflow"])]
    base = next((m for m in DEFAULT_MODELS.values() if m.workflow is workflow), None)
    inputs = value.get("inputs") or {}
    if not isinstance(inputs, Mapping) or not all(isinstance(v, Mapping) for v in inputs.values()):
        raise ValueError(f"ComfyUI model {name!r}: 'inputs' maps node ids to {{input: value}}")
    return ComfyModel(
        name=name,
        label=str(value.get("label") or (base.label if base else name)),
        workflow=workflow,
        quality=str(value.get("quality") or (base.quality if base else "")),
        inputs={str(k): dict(v) for k, v in inputs.items()},
    )


def derived_seed(key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"seed:{key}".encode()).digest()[:6], "big")


def prompt_ids(idempotency_key: str) -> tuple[str, str]:
    """``(prompt_id, client_id)``: derived from the idempotency key when there is one (a resubmit
    names the same prompt), else fresh."""
    if idempotency_key:
        return (
            str(uuid.uuid5(PROMPT_NAMESPACE, f"prompt:{idempotency_key}")),
            uuid.uuid5(PROMPT_NAMESPACE, f"client:{idempotency_key}").hex,
        )
    return str(uuid.uuid4()), uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class FilledGraph:
    graph: dict[str, Any]
    seed: int
    frames: int
    width: int
    height: int


def fill_graph(model: ComfyModel, request: VideoRequest, seed: int) -> FilledGraph:
    """The model's graph with the request's prompt, seed, length and size in their nodes."""
    workflow = model.workflow
    size = workflow.sizes.get(request.aspect_ratio)
    if size is None:
        raise ValueError(
            f"{model.label} takes the aspect ratios {', '.join(workflow.sizes)}, "
            f"not {request.aspect_ratio!r}"
        )
    graph = load_graph(workflow.name)
    for node_id, values in model.inputs.items():
        if node_id not in graph:
            raise ValueError(f"{model.label}: the workflow has no node {node_id!r}")
        graph[node_id]["inputs"].update(copy.deepcopy(dict(values)))

    def put(slot: tuple[str, str], value: Any) -> None:
        graph[slot[0]]["inputs"][slot[1]] = value

    frames = workflow.frames(request.duration_seconds)
    width, height = size
    put(workflow.prompt, request.prompt)
    if workflow.negative is not None and request.negative_prompt:
        put(workflow.negative, request.negative_prompt)
    put(workflow.seed, seed)
    put(workflow.length, frames)
    put(workflow.width, width)
    put(workflow.height, height)
    for slot in workflow.fps_inputs:
        put(slot, workflow.fps)
    return FilledGraph(graph=graph, seed=seed, frames=frames, width=width, height=height)


def prompt_error_message(body: Any) -> str:
    """The reason of a refused ``POST /prompt``: the error and each failing node (id, class and
    what is wrong with it)."""
    if not isinstance(body, Mapping):
        return "ComfyUI refused the workflow"
    error = body.get("error")
    parts: list[str] = []
    if isinstance(error, Mapping):
        if error.get("type") == "prompt_no_outputs":
            parts.append(
                "ComfyUI found no output node in the workflow (its SaveVideo node needs "
                "ComfyUI 0.3.6x or later)"
            )
        else:
            text = str(error.get("message") or error.get("type") or "")
            details = str(error.get("details") or "")
            parts.append(f"{text} ({details})" if details and details != text else text)
    elif isinstance(error, str):
        parts.append(error)
    node_errors = body.get("node_errors")
    if isinstance(node_errors, Mapping):
        for node_id, problem in node_errors.items():
            if not isinstance(problem, Mapping):
                continue
            reasons = []
            for item in problem.get("errors") or []:
                if isinstance(item, Mapping):
                    message = str(item.get("message") or item.get("type") or "")
                    details = str(item.get("details") or "")
                    reasons.append(f"{message}: {details}" if details else message)
            class_type = problem.get("class_type") or "?"
            parts.append(f"node {node_id} ({class_type}): {'; '.join(reasons) or 'invalid'}")
    return short("; ".join(p for p in parts if p) or "ComfyUI refused the workflow", 600)


def find_video(outputs: Any, prefer_node: str = "") -> dict[str, Any] | None:
    """The saved video among a prompt's ``outputs``: core ``SaveVideo`` reports it under
    ``images`` (with ``animated: [true]``), VideoHelperSuite under ``gifs``, some custom nodes
    under ``videos``. Still images and animated WEBP are passed over."""
    if not isinstance(outputs, Mapping):
        return None
    node_ids = sorted(outputs, key=lambda n: (n != prefer_node, str(n)))
    for node_id in node_ids:
        output = outputs[node_id]
        if not isinstance(output, Mapping):
            continue
        for key in ("images", "gifs", "videos"):
            entries = output.get(key)
            if not isinstance(entries, list):
                continue
            for entry in entries:
                if not isinstance(entry, Mapping) or not entry.get("filename"):
                    continue
                filename = str(entry["filename"])
                suffix = Path(filename).suffix.lower()
                fmt = str(entry.get("format") or "")
                if suffix in VIDEO_SUFFIXES or fmt.startswith("video/"):
                    return {**entry, "node": str(node_id)}
    return None


def _messages(entry: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    status = entry.get("status")
    found: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(status, Mapping):
        for item in status.get("messages") or []:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[1], Mapping):
                found.append((str(item[0]), item[1]))
    return found


def execution_failure(entry: Mapping[str, Any]) -> Failed:
    """A finished prompt whose status is ``error``: the node that failed and why, or that it was
    interrupted."""
    for event, data in _messages(entry):
        if event == "execution_interrupted":
            return Failed(
                f"interrupted at node {data.get('node_id')} ({data.get('node_type')})",
                code="interrupted",
                cancelled=True,
            )
        if event == "execution_error":
            message = str(data.get("exception_message") or "").strip() or "execution failed"
            where = f"node {data.get('node_id')} ({data.get('node_type')})"
            return Failed(
                short(f"{where}: {message}", 600),
                code=str(data.get("exception_type") or "execution_error"),
                kind=VideoErrorKind.UNAVAILABLE,
            )
    return Failed("ComfyUI reports the prompt failed", code="execution_error")


@dataclass(slots=True)
class SocketNews:
    """What a short listen on ComfyUI's WebSocket told about one prompt."""

    progress: float | None = None
    node: str = ""
    ended: str = ""
    """``success``, ``error``, ``interrupted`` or ``finished`` (``executing`` with no node)."""
    previews: int = 0
    messages: int = 0
    reported: bool = False
    """A ``progress`` message came (``progress_state`` alone keeps listening for one)."""

    def take(self, frame: str | bytes, prompt_id: str) -> None:
        if isinstance(frame, bytes):
            # 4-byte big-endian event type: 1 preview image, 4 preview with metadata, 3 text.
            if len(frame) >= 4 and int.from_bytes(frame[:4], "big") in (1, 4):
                self.previews += 1
            return
        try:
            message = json.loads(frame)
        except ValueError:
            return
        if not isinstance(message, Mapping) or not isinstance(message.get("data"), Mapping):
            return
        kind, data = str(message.get("type") or ""), message["data"]
        self.messages += 1
        theirs = data.get("prompt_id")
        if theirs not in (None, prompt_id):
            return
        if kind == "progress":
            self._set_progress(data.get("value"), data.get("max"))
            self.node = str(data.get("node") or self.node)
            self.reported = True
        elif kind == "progress_state":
            nodes = data.get("nodes")
            if isinstance(nodes, Mapping):
                for node_id, state in nodes.items():
                    if isinstance(state, Mapping) and state.get("state") == "running":
                        self._set_progress(state.get("value"), state.get("max"))
                        self.node = str(node_id)
        elif kind == "executing":
            if data.get("node") is None:
                if theirs == prompt_id:
                    self.ended = self.ended or "finished"
            else:
                self.node = str(data["node"])
        elif kind == "execution_success":
            self.ended = "success"
        elif kind == "execution_error":
            self.ended = "error"
        elif kind == "execution_interrupted":
            self.ended = "interrupted"

    def _set_progress(self, value: Any, top: Any) -> None:
        if isinstance(value, int | float) and isinstance(top, int | float) and top > 0:
            self.progress = round(max(0.0, min(100.0, 100.0 * value / top)), 1)

    @property
    def settled(self) -> bool:
        return self.reported or bool(self.ended)


async def listen(
    url: str, prompt_id: str, *, headers: Mapping[str, str], budget: float
) -> SocketNews:
    """Read ComfyUI's WebSocket for at most ``budget`` seconds (plus a bounded close), stopping
    at the first progress report or ending for ``prompt_id``. Never raises: progress is a nicety."""
    news = SocketNews()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(budget):
            async with connect(
                url,
                additional_headers=dict(headers) or None,
                open_timeout=budget,
                close_timeout=0.1,
                ping_interval=None,
                proxy=None,
                compression=None,
                max_size=8 * 1024 * 1024,
            ) as socket:
                async for frame in socket:
                    news.take(frame, prompt_id)
                    if news.settled:
                        break
    return news


class ComfyUIProvider(VideoProvider):
    name = "comfyui"
    label = "Self-hosted ComfyUI"
    how_to_configure = (
        "Set SELF_HOSTED_SERVER to your ComfyUI's address (e.g. http://127.0.0.1:8188) with the "
        "LTX-Video model files installed (ltx-video-2b-v0.9.5.safetensors in models/checkpoints, "
        "t5xxl_fp16.safetensors in models/text_encoders; HunyuanVideo's for self_hosted_hunyuan); "
        "set SELF_HOSTED_API_KEY too if a proxy in front of it asks for a bearer token."
    )

    def __init__(
        self, alias: str, options: dict[str, Any], *, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(alias, options, client=client)
        configured = options.get("models")
        if configured:
            self._models = {
                name: model_from_setting(name, value) for name, value in dict(configured).items()
            }
        else:
            self._models = dict(DEFAULT_MODELS)

    @property
    def api_key(self) -> str:
        return str(self.options.get("api_key") or "")

    @property
    def ws_url(self) -> str:
        configured = str(self.options.get("ws_url") or "")
        if configured:
            return configured
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))

    def is_configured(self) -> bool:
        return bool(self.base_url)

    def models(self) -> tuple[ModelSpec, ...]:
        return tuple(
            ModelSpec(
                name=m.name,
                label=m.label,
                provider_model=m.workflow.name,
                max_duration_seconds=m.workflow.max_duration_seconds,
                ratios=tuple(m.workflow.sizes),
                quality=m.quality,
            )
            for m in self._models.values()
        )

    def key_check_url(self) -> str:
        return f"{self.base_url}/system_stats" if self.base_url else ""

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def download_headers(self, url: str) -> dict[str, str]:
        return self.headers() if url.startswith(self.base_url + "/") else {}

    def model_for(self, wanted: str) -> ComfyModel:
        for model in self._models.values():
            if wanted in (model.name, model.workflow.name):
                return model
        known = ", ".join(self._models)
        raise self.error(
            VideoErrorKind.BAD_REQUEST,
            f"no ComfyUI model {wanted!r} in the catalogue (known: {known})",
            retryable=False,
        )

    async def submit(self, request: VideoRequest) -> dict[str, Any]:
        if not self.base_url:
            raise self.error(
                VideoErrorKind.BAD_REQUEST, "SELF_HOSTED_SERVER is not set", retryable=False
            )
        model = self.model_for(request.model)
        if request.image is not None:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"{model.label} makes videos from text only",
                retryable=False,
            )
        if request.seed is not None:
            seed = request.seed
        elif request.idempotency_key:
            seed = derived_seed(request.idempotency_key)
        else:
            seed = secrets.randbelow(MAX_SEED)
        try:
            filled = fill_graph(model, request, seed)
        except ValueError as exc:
            raise self.error(VideoErrorKind.BAD_REQUEST, str(exc), retryable=False) from exc
        prompt_id, client_id = prompt_ids(request.idempotency_key)
        operation: dict[str, Any] = {
            "prompt_id": prompt_id,
            "client_id": client_id,
            "model": model.name,
            "workflow": model.workflow.name,
            "save_node": model.workflow.save_node,
            "seed": filled.seed,
            "frames": filled.frames,
            "fps": model.workflow.fps,
            "width": filled.width,
            "height": filled.height,
        }
        if request.idempotency_key and await self._known(prompt_id):
            return operation
        what = "ComfyUI /prompt"
        response = await send(
            self,
            "POST",
            f"{self.base_url}/prompt",
            what=what,
            headers=self.headers(),
            json={"prompt": filled.graph, "client_id": client_id, "prompt_id": prompt_id},
        )
        if response.status_code == 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                prompt_error_message(body),
                retryable=False,
                status_code=400,
            )
        if response.status_code >= 300:
            raise status_error(self, response, what=what)
        answer = json_body(self, response, what=what)
        if isinstance(answer, Mapping) and answer.get("prompt_id"):
            operation["prompt_id"] = str(answer["prompt_id"])
        return operation

    async def _known(self, prompt_id: str) -> bool:
        """Whether the server already has this prompt (finished, running or queued)."""
        if await self._history(prompt_id) is not None:
            return True
        return self._queue_place(await self._queue(), prompt_id) is not None

    async def _history(self, prompt_id: str) -> Mapping[str, Any] | None:
        what = "ComfyUI /history"
        response = await send(
            self, "GET", f"{self.base_url}/history/{prompt_id}", what=what, headers=self.headers()
        )
        if response.status_code >= 300:
            raise status_error(self, response, what=what)
        body = json_body(self, response, what=what)
        entry = body.get(prompt_id) if isinstance(body, Mapping) else None
        return entry if isinstance(entry, Mapping) else None

    async def _queue(self) -> Mapping[str, Any]:
        what = "ComfyUI /queue"
        response = await send(
            self, "GET", f"{self.base_url}/queue", what=what, headers=self.headers()
        )
        if response.status_code >= 300:
            raise status_error(self, response, what=what)
        body = json_body(self, response, what=what)
        return body if isinstance(body, Mapping) else {}

    @staticmethod
    def _queue_place(queue: Mapping[str, Any], prompt_id: str) -> tuple[str, int] | None:
        """``("running", 0)`` or ``("queued", n ahead)`` for the prompt, None if absent."""
        for item in queue.get("queue_running") or []:
            if isinstance(item, list) and len(item) > 1 and item[1] == prompt_id:
                return ("running", 0)
        pending = [item for item in queue.get("queue_pending") or [] if isinstance(item, list)]
        pending.sort(key=lambda item: item[0] if isinstance(item[0], int | float) else 0)
        for ahead, item in enumerate(pending):
            if len(item) > 1 and item[1] == prompt_id:
                return ("queued", ahead)
        return None

    def _done(self, operation: Mapping[str, Any], entry: Mapping[str, Any]) -> PollResult:
        video = find_video(entry.get("outputs"), str(operation.get("save_node") or ""))
        if video is None:
            return Failed(
                "ComfyUI finished the prompt without saving a video", code="no_video_output"
            )
        query = urlencode(
            {
                "filename": video["filename"],
                "subfolder": video.get("subfolder") or "",
                "type": video.get("type") or "output",
            }
        )
        suffix = Path(str(video["filename"])).suffix.lower()
        details = {
            key: operation.get(key)
            for key in ("prompt_id", "seed", "frames", "fps", "width", "height")
        }
        details["filename"] = video["filename"]
        return Done(
            url=f"{self.base_url}/view?{query}",
            content_type=VIDEO_SUFFIXES.get(suffix, ""),
            details=details,
        )

    def _finished(self, operation: Mapping[str, Any], entry: Mapping[str, Any]) -> PollResult:
        status = entry.get("status")
        status_str = status.get("status_str") if isinstance(status, Mapping) else None
        if status_str == "error":
            return execution_failure(entry)
        return self._done(operation, entry)

    async def poll(self, operation: dict[str, Any]) -> PollResult:
        prompt_id = str(operation["prompt_id"])
        entry = await self._history(prompt_id)
        if entry is not None:
            return self._finished(operation, entry)
        place = self._queue_place(await self._queue(), prompt_id)
        if place is None:
            entry = await self._history(prompt_id)
            if entry is not None:
                return self._finished(operation, entry)
            return Failed(
                "ComfyUI has no record of the prompt (it was deleted from the queue, or the "
                "server restarted)",
                code="lost",
                kind=VideoErrorKind.UNAVAILABLE,
                retryable=True,
            )
        state, ahead = place
        if state == "queued":
            message = f"{ahead} prompt{'s' if ahead != 1 else ''} ahead in ComfyUI's queue"
            return Pending(state="queued", message=message)
        news = await self._listen(operation)
        message = ""
        if news.node:
            class_type = self._class_type(operation, news.node)
            message = f"running node {news.node}" + (f" ({class_type})" if class_type else "")
        return Pending(progress=news.progress, state="running", message=message)

    async def _listen(self, operation: Mapping[str, Any]) -> SocketNews:
        if self.options.get("websocket") is False or not operation.get("client_id"):
            return SocketNews()
        budget = float(self.options.get("progress_timeout") or DEFAULT_PROGRESS_TIMEOUT)
        separator = "&" if "?" in self.ws_url else "?"
        url = f"{self.ws_url}{separator}{urlencode({'clientId': operation['client_id']})}"
        return await listen(url, str(operation["prompt_id"]), headers=self.headers(), budget=budget)

    def _class_type(self, operation: Mapping[str, Any], node_id: str) -> str:
        name = str(operation.get("workflow") or "")
        if name not in WORKFLOWS:
            return ""
        node = load_graph(name).get(node_id)
        return str(node.get("class_type") or "") if isinstance(node, Mapping) else ""

    async def cancel(self, operation: dict[str, Any]) -> None:
        prompt_id = str(operation["prompt_id"])
        what = "ComfyUI /queue delete"
        response = await send(
            self,
            "POST",
            f"{self.base_url}/queue",
            what=what,
            headers=self.headers(),
            json={"delete": [prompt_id]},
        )
        if response.status_code >= 300:
            raise status_error(self, response, what=what)
        if self._queue_place(await self._queue(), prompt_id) != ("running", 0):
            return
        what = "ComfyUI /interrupt"
        response = await send(
            self,
            "POST",
            f"{self.base_url}/interrupt",
            what=what,
            headers=self.headers(),
            json={"prompt_id": prompt_id},
        )
        if response.status_code >= 300:
            raise status_error(self, response, what=what)
