"""A loopback fake of a ComfyUI server (v0.3.64, ../shared/PROTOCOLS-VIDEO.md §9): HTTP on one
port (``generation.benchmarks.loopback``), its WebSocket on another (``websockets``; give
``ws_url`` to the adapter)::

    with FakeComfyUI() as comfy:
        provider = ComfyUIProvider(
            "self", {"base_url": comfy.base_url, "ws_url": comfy.ws_url}, client=client
        )
        operation = await provider.submit(request)
        comfy.start()                        # the oldest queued prompt runs
        comfy.set_progress(12, 30)           # what the WebSocket reports for it
        comfy.succeed()                      # history: success with a SaveVideo output
        comfy.prompts[operation["prompt_id"]].graph
        comfy.requests                       # every HTTP LoopbackRequest
        comfy.sockets                        # every WebSocket connection (client id, headers)

HTTP:

- ``POST /prompt``: ``no_prompt`` without ``prompt``; ``invalid_prompt`` for a node without
  ``class_type`` or of a class the fake does not know; ``prompt_no_outputs`` without an output node;
  ``prompt_outputs_failed_validation`` with ``node_errors`` for a model file not in ``installed``
  or a link to a missing node; else queues it (``prompt_id`` as given, else a uuid) and answers
  ``{"prompt_id", "number", "node_errors": {}}``. A prompt id already known is queued again (the
  real server does not de-duplicate).
- ``GET /queue``: ``queue_running`` / ``queue_pending`` as ``[number, prompt_id, prompt,
  extra_data, outputs]``; ``POST /queue {"delete": [...]}`` drops queued prompts.
- ``POST /interrupt {"prompt_id"}``: interrupts that prompt only if it is running (a body
  without ``prompt_id`` interrupts whatever runs) → history ``error`` with
  ``execution_interrupted``.
- ``GET /history/{id}``: ``{}`` until the prompt ended; then its entry (``outputs``, ``meta``,
  ``status``). ``legacy=True`` leaves ``execution_success`` out of the messages (older servers).
- ``GET /view?filename=&subfolder=&type=``: the bytes of a saved file (400 for ``..`` or a
  leading ``/``, 404 if missing).

WebSocket ``/ws?clientId=``: first ``status`` (with ``sid``); when that client's prompt is
running, ``executing`` with the current node (as the server re-sends on reconnect), a
``progress_state``, a binary preview frame of type 1, one of type 4 (with its JSON metadata), then
``progress``; then nothing more until the client leaves. ``ws_mode="quiet"`` sends only ``status``.

With ``api_key`` every HTTP call must carry ``Authorization: Bearer <key>`` (else 401).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve

from generation.benchmarks.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer

OUTPUT_NODES = frozenset(
    {"SaveVideo", "SaveWEBM", "SaveAnimatedWEBP", "SaveImage", "PreviewImage", "VHS_VideoCombine"}
)
KNOWN_NODES = OUTPUT_NODES | {
    "CheckpointLoaderSimple",
    "CLIPLoader",
    "DualCLIPLoader",
    "UNETLoader",
    "VAELoader",
    "CLIPTextEncode",
    "LTXVConditioning",
    "EmptyLTXVLatentVideo",
    "LTXVScheduler",
    "KSamplerSelect",
    "SamplerCustom",
    "SamplerCustomAdvanced",
    "VAEDecode",
    "VAEDecodeTiled",
    "CreateVideo",
    "FluxGuidance",
    "EmptyHunyuanLatentVideo",
    "ModelSamplingSD3",
    "BasicGuider",
    "BasicScheduler",
    "RandomNoise",
    "LoadImage",
}
MODEL_INPUTS = {
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CLIPLoader": ("clip_name",),
    "DualCLIPLoader": ("clip_name1", "clip_name2"),
    "UNETLoader": ("unet_name",),
    "VAELoader": ("vae_name",),
}
INSTALLED = frozenset(
    {
        "ltx-video-2b-v0.9.5.safetensors",
        "t5xxl_fp16.safetensors",
        "hunyuan_video_t2v_720p_bf16.safetensors",
        "clip_l.safetensors",
        "llava_llama3_fp8_scaled.safetensors",
        "hunyuan_video_vae_bf16.safetensors",
    }
)
DEFAULT_VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x01" * 96
JPEG = b"\xff\xd8\xff\xe0fake-preview\xff\xd9"


@dataclass
class FakePrompt:
    prompt_id: str
    number: int
    graph: dict[str, Any]
    client_id: str
    state: str = "queued"
    """``queued``, ``running``, ``success``, ``error``, ``interrupted``, ``deleted``."""
    node: str = ""
    progress: tuple[int, int] | None = None
    history: dict[str, Any] = field(default_factory=dict)

    def queue_item(self) -> list[Any]:
        outputs = [n for n, node in self.graph.items() if node["class_type"] in OUTPUT_NODES]
        return [self.number, self.prompt_id, self.graph, {"client_id": self.client_id}, outputs]


def _error(kind: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


class _SocketThread:
    """A ``websockets`` server on 127.0.0.1 in its own thread and loop."""

    def __init__(self, handler: Any) -> None:
        self._handler = handler
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> None:
        ready = threading.Event()

        async def main() -> None:
            self._stop = asyncio.Event()
            async with serve(self._handler, "127.0.0.1", 0, compression=None) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                ready.set()
                await self._stop.wait()
                server.close()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-comfy-ws", daemon=True)
        self._thread.start()
        ready.wait(5)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)


@dataclass
class SocketVisit:
    client_id: str
    headers: dict[str, str]
    closed: threading.Event = field(default_factory=threading.Event)


class FakeComfyUI:
    def __init__(
        self,
        *,
        installed: frozenset[str] = INSTALLED,
        video: bytes = DEFAULT_VIDEO,
        api_key: str = "",
        legacy: bool = False,
        ws_mode: str = "full",
    ) -> None:
        self.installed = installed
        self.video = video
        self.api_key = api_key
        self.legacy = legacy
        self.ws_mode = ws_mode
        self.prompts: dict[str, FakePrompt] = {}
        self.files: dict[tuple[str, str], bytes] = {}
        self.sockets: list[SocketVisit] = []
        self.interrupts: list[Any] = []
        self._numbers = itertools.count(1)
        self._lock = threading.RLock()
        self._http = LoopbackServer(self._handle)
        self._ws = _SocketThread(self._socket)

    # the servers

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._ws.port}/ws"

    @property
    def requests(self) -> list[LoopbackRequest]:
        return self._http.requests

    def calls(self, method: str, path: str) -> list[LoopbackRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def __enter__(self) -> FakeComfyUI:
        self._http.start()
        self._ws.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ws.stop()
        self._http.stop()

    # what the test makes happen

    def _pick(self, prompt_id: str | None, state: str) -> FakePrompt:
        with self._lock:
            if prompt_id is not None:
                return self.prompts[prompt_id]
            found = sorted(
                (p for p in self.prompts.values() if p.state == state), key=lambda p: p.number
            )
            if not found:
                raise LookupError(f"no {state} prompt")
            return found[0]

    def start(self, prompt_id: str | None = None, *, node: str = "") -> FakePrompt:
        prompt = self._pick(prompt_id, "queued")
        with self._lock:
            prompt.state = "running"
            prompt.node = node or self._sampler(prompt.graph)
        return prompt

    def set_progress(self, value: int, top: int, prompt_id: str | None = None) -> None:
        prompt = self._pick(prompt_id, "running")
        with self._lock:
            prompt.progress = (value, top)

    def succeed(
        self, prompt_id: str | None = None, *, output: str = "core", filename: str = ""
    ) -> FakePrompt:
        """The running prompt finishes: ``output`` ``core`` (SaveVideo under ``images``),
        ``vhs`` (VideoHelperSuite ``gifs`` plus its PNG), ``webp`` (an animated WEBP only) or
        ``none``."""
        prompt = self._pick(prompt_id, "running")
        save = next(
            (n for n, node in prompt.graph.items() if node["class_type"] in OUTPUT_NODES), "99"
        )
        outputs: dict[str, Any] = {}
        if output == "core":
            name = filename or "aura_00001_.mp4"
            self.files[("video", name)] = self.video
            outputs[save] = {
                "images": [{"filename": name, "subfolder": "video", "type": "output"}],
                "animated": [True],
            }
        elif output == "vhs":
            name = filename or "aura_00001.mp4"
            self.files[("", name)] = self.video
            self.files[("", "aura_00001.png")] = b"\x89PNG\r\n\x1a\n"
            outputs[save] = {
                "gifs": [
                    {
                        "filename": name,
                        "subfolder": "",
                        "type": "output",
                        "format": "video/h264-mp4",
                        "frame_rate": 24.0,
                    }
                ]
            }
            outputs["90"] = {
                "images": [{"filename": "aura_00001.png", "subfolder": "", "type": "output"}]
            }
        elif output == "webp":
            self.files[("", "aura_00001_.webp")] = b"RIFF0000WEBP"
            outputs[save] = {
                "images": [{"filename": "aura_00001_.webp", "subfolder": "", "type": "output"}],
                "animated": [True],
            }
        messages = [
            ["execution_start", {"prompt_id": prompt.prompt_id, "timestamp": 1767225600000}],
            ["execution_cached", {"nodes": [], "prompt_id": prompt.prompt_id}],
        ]
        if not self.legacy:
            messages.append(
                ["execution_success", {"prompt_id": prompt.prompt_id, "timestamp": 1767225690000}]
            )
        self._end(prompt, "success", outputs, messages)
        return prompt

    def fail(
        self,
        prompt_id: str | None = None,
        *,
        message: str = "Allocation on device 0 would exceed allowed memory.",
        exception_type: str = "torch.OutOfMemoryError",
        node: str = "",
    ) -> FakePrompt:
        prompt = self._pick(prompt_id, "running")
        node_id = node or prompt.node
        error = {
            "prompt_id": prompt.prompt_id,
            "node_id": node_id,
            "node_type": prompt.graph.get(node_id, {}).get("class_type", "?"),
            "executed": [],
            "exception_message": message,
            "exception_type": exception_type,
            "traceback": ["  File execution.py ..."],
            "current_inputs": {},
            "current_outputs": [],
            "timestamp": 1767225690000,
        }
        self._end(prompt, "error", {}, [["execution_error", error]])
        return prompt

    def _interrupt(self, prompt: FakePrompt) -> None:
        data = {
            "prompt_id": prompt.prompt_id,
            "node_id": prompt.node,
            "node_type": prompt.graph.get(prompt.node, {}).get("class_type", "?"),
            "executed": [],
            "timestamp": 1767225690000,
        }
        self._end(prompt, "interrupted", {}, [["execution_interrupted", data]])

    def _end(
        self, prompt: FakePrompt, state: str, outputs: dict[str, Any], messages: list[Any]
    ) -> None:
        with self._lock:
            prompt.state = state
            prompt.history = {
                "prompt": prompt.queue_item(),
                "outputs": outputs,
                "meta": {
                    n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n}
                    for n in outputs
                },
                "status": {
                    "status_str": "success" if state == "success" else "error",
                    "completed": state == "success",
                    "messages": messages,
                },
            }

    @staticmethod
    def _sampler(graph: dict[str, Any]) -> str:
        for node_id, node in graph.items():
            if node["class_type"].startswith("SamplerCustom"):
                return str(node_id)
        return next(iter(graph), "")

    # HTTP

    async def _handle(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        path = request.path.removeprefix("/api") if request.path.startswith("/api/") else None
        path = path or request.path
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            await response.send_json(401, {"error": "unauthorized"})
            return
        if path == "/prompt" and request.method == "POST":
            status, body = self._post_prompt(request.json())
            await response.send_json(status, body)
        elif path == "/queue" and request.method == "GET":
            await response.send_json(200, self._queue())
        elif path == "/queue" and request.method == "POST":
            self._delete((request.json() or {}).get("delete") or [])
            await self._empty(response)
        elif path == "/interrupt" and request.method == "POST":
            self._post_interrupt(request.json() if request.body else None)
            await self._empty(response)
        elif path.startswith("/history/") and request.method == "GET":
            prompt_id = path.removeprefix("/history/")
            with self._lock:
                prompt = self.prompts.get(prompt_id)
                entry = {prompt_id: prompt.history} if prompt and prompt.history else {}
            await response.send_json(200, entry)
        elif path == "/view" and request.method == "GET":
            await self._view(request, response)
        else:
            await response.send_json(404, {"error": f"no route {request.method} {path}"})

    @staticmethod
    async def _empty(response: LoopbackResponse) -> None:
        await response.start(200, {"content-type": "text/plain"})
        await response.end()

    def _post_prompt(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or "prompt" not in body:
            return 400, {
                "error": _error("no_prompt", "No prompt provided", "No prompt provided"),
                "node_errors": {},
            }
        graph = body["prompt"]
        for node_id, node in graph.items():
            if "class_type" not in node:
                return 400, {
                    "error": _error(
                        "invalid_prompt",
                        "Cannot execute because a node is missing the class_type property.",
                        f"Node ID '#{node_id}'",
                    ),
                    "node_errors": {},
                }
            if node["class_type"] not in KNOWN_NODES:
                return 400, {
                    "error": _error(
                        "invalid_prompt",
                        f"Cannot execute because node {node['class_type']} does not exist.",
                        f"Node ID '#{node_id}'",
                    ),
                    "node_errors": {},
                }
        outputs = [n for n, node in graph.items() if node["class_type"] in OUTPUT_NODES]
        if not outputs:
            return 400, {
                "error": _error("prompt_no_outputs", "Prompt has no outputs"),
                "node_errors": {},
            }
        node_errors = self._node_errors(graph, outputs)
        if node_errors:
            return 400, {
                "error": _error(
                    "prompt_outputs_failed_validation", "Prompt outputs failed validation"
                ),
                "node_errors": node_errors,
            }
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        with self._lock:
            number = next(self._numbers)
            self.prompts[prompt_id] = FakePrompt(
                prompt_id, number, graph, str(body.get("client_id") or "")
            )
        return 200, {"prompt_id": prompt_id, "number": number, "node_errors": {}}

    def _node_errors(self, graph: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
        errors: dict[str, Any] = {}
        for node_id, node in graph.items():
            problems = []
            for name in MODEL_INPUTS.get(node["class_type"], ()):
                value = node["inputs"].get(name)
                if value not in self.installed:
                    problems.append(
                        {
                            "type": "value_not_in_list",
                            "message": "Value not in list",
                            "details": f"{name}: '{value}' not in {sorted(self.installed)}",
                            "extra_info": {"input_name": name},
                        }
                    )
            for name, value in node["inputs"].items():
                if isinstance(value, list) and len(value) == 2 and str(value[0]) not in graph:
                    problems.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": name,
                            "extra_info": {"input_name": name},
                        }
                    )
            if problems:
                errors[node_id] = {
                    "errors": problems,
                    "dependent_outputs": outputs,
                    "class_type": node["class_type"],
                }
        return errors

    def _queue(self) -> dict[str, Any]:
        with self._lock:
            ordered = sorted(self.prompts.values(), key=lambda p: p.number)
            return {
                "queue_running": [p.queue_item() for p in ordered if p.state == "running"],
                "queue_pending": [p.queue_item() for p in ordered if p.state == "queued"],
            }

    def _delete(self, prompt_ids: list[Any]) -> None:
        with self._lock:
            for prompt_id in prompt_ids:
                prompt = self.prompts.get(str(prompt_id))
                if prompt is not None and prompt.state == "queued":
                    prompt.state = "deleted"

    def _post_interrupt(self, body: Any) -> None:
        self.interrupts.append(body)
        with self._lock:
            running = [p for p in self.prompts.values() if p.state == "running"]
            wanted = body.get("prompt_id") if isinstance(body, dict) else None
            for prompt in running:
                if wanted is None or prompt.prompt_id == wanted:
                    self._interrupt(prompt)

    async def _view(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        filename = (request.query.get("filename") or [""])[0]
        subfolder = (request.query.get("subfolder") or [""])[0]
        if not filename or filename.startswith("/") or ".." in filename or ".." in subfolder:
            await response.send_json(400, {"error": "invalid filename"})
            return
        data = self.files.get((subfolder, filename))
        if data is None:
            await response.send_json(404, {"error": "not found"})
            return
        kind = "video/mp4" if filename.endswith(".mp4") else "application/octet-stream"
        await response.start(
            200,
            {
                "content-type": kind,
                "content-disposition": f'filename="{filename}"',
                "content-length": str(len(data)),
            },
        )
        await response.write(data)
        await response.end()

    # WebSocket

    async def _socket(self, connection: ServerConnection) -> None:
        request = connection.request
        target = request.path if request is not None else "/ws"
        query = parse_qs(urlsplit(target).query)
        client_id = (query.get("clientId") or [""])[0] or uuid.uuid4().hex
        headers = {k.lower(): v for k, v in request.headers.raw_items()} if request else {}
        visit = SocketVisit(client_id, headers)
        self.sockets.append(visit)
        try:
            with self._lock:
                queued = sum(1 for p in self.prompts.values() if p.state in ("queued", "running"))
                mine = next(
                    (
                        p
                        for p in self.prompts.values()
                        if p.state == "running" and p.client_id == client_id
                    ),
                    None,
                )
            await connection.send(
                json.dumps(
                    {
                        "type": "status",
                        "data": {
                            "status": {"exec_info": {"queue_remaining": queued}},
                            "sid": client_id,
                        },
                    }
                )
            )
            if mine is not None and self.ws_mode == "full":
                await self._report(connection, mine)
            with contextlib.suppress(Exception):
                await connection.wait_closed()
        finally:
            visit.closed.set()

    async def _report(self, connection: ServerConnection, prompt: FakePrompt) -> None:
        pid, node = prompt.prompt_id, prompt.node
        await connection.send(json.dumps({"type": "executing", "data": {"node": node}}))
        value, top = prompt.progress or (0, 1)
        state = {
            "value": value,
            "max": top,
            "state": "running",
            "node_id": node,
            "prompt_id": pid,
            "display_node_id": node,
            "parent_node_id": None,
            "real_node_id": node,
        }
        await connection.send(
            json.dumps(
                {"type": "progress_state", "data": {"prompt_id": pid, "nodes": {node: state}}}
            )
        )
        await connection.send((1).to_bytes(4, "big") + (1).to_bytes(4, "big") + JPEG)
        meta = json.dumps(
            {
                "node_id": node,
                "prompt_id": pid,
                "display_node_id": node,
                "parent_node_id": None,
                "real_node_id": node,
                "image_type": "image/jpeg",
            }
        ).encode()
        await connection.send((4).to_bytes(4, "big") + len(meta).to_bytes(4, "big") + meta + JPEG)
        if prompt.progress is not None:
            await connection.send(
                json.dumps(
                    {
                        "type": "progress",
                        "data": {"value": value, "max": top, "prompt_id": pid, "node": node},
                    }
                )
            )
