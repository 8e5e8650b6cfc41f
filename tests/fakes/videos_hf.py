"""A loopback fake of Hugging Face for video: the Hub's provider-mapping endpoint, the router's
fal-ai queue and replicate predictions, and a CDN for the clips (../shared/PROTOCOLS-VIDEO.md §8),
all on one port (give it as both ``base_url`` and ``hub_url``)::

    with FakeHuggingFace() as hf:
        hf.map_model("tencent/HunyuanVideo", {"fal-ai": fal_mapping("fal-ai/hunyuan-video")})
        hf.map_model("Lightricks/LTX-Video", [replicate_mapping("lightricks/ltx-video:8c47")])
        hf.plan_fal(FalPlan([fal_queued(2), fal_running("step 3/30"), fal_completed()]))
        hf.plan_replicate(ReplicatePlan([rep_starting(), rep_succeeded(VIDEO)]))
        provider = HuggingFaceProvider(
            "hf", {"api_key": hf.token, "base_url": hf.base_url, "hub_url": hf.base_url}
        )
        ...
        hf.requests                 # every LoopbackRequest (method, path, query, headers, json())
        hf.fal_jobs["r1"].body      # what a submit sent
        hf.predictions["p1"].prefer # the Prefer header of a create

Hub: ``GET /api/models/{repo}?expand=inferenceProviderMapping`` (``expand[]=`` too) answers the
mapping given to ``map_model`` in the form given (a dict keyed by provider or a list), without the
key when it was given as ``None``, and 404 for a repo never mapped.

fal-ai: ``POST /fal-ai/{endpoint}?_subdomain=queue`` answers ``IN_QUEUE`` with fal's own
``response_url``/``status_url``/``cancel_url`` (host ``queue.fal.run``, *without* the endpoint's
sub-path); status, result and cancel answer only at ``/fal-ai/{owner}/{app}/requests/{id}...``.
Each status GET takes the next status of the job's plan (the last one repeats); the result answers
the plan's ``result`` (default: a video at ``{base}/files/{id}.mp4``). Cancel answers 202
``CANCELLATION_REQUESTED``, or 400 ``ALREADY_COMPLETED`` once a ``COMPLETED`` status was served.

replicate: ``POST /replicate/v1/predictions`` (needs ``version``) and
``POST /replicate/v1/models/{owner}/{name}/predictions`` answer 201 with the plan's first state;
each ``GET /replicate/v1/predictions/{id}`` the next (the last repeats); ``POST .../cancel`` makes
it ``canceled``. ``expire(id)`` makes the prediction and its file answer 404, as after Replicate's
one-hour retention. ``VIDEO`` in a state's ``output`` becomes the prediction's file URL.

``fail_next(route, status, body, headers)`` makes the next call of a route (``hub``,
``fal_submit``, ``fal_status``, ``fal_result``, ``fal_cancel``, ``replicate_create``,
``replicate_get``, ``replicate_cancel``) answer that instead. Every call must carry
``Authorization: Bearer <token>`` (else 401 as the router answers).
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from generation.benchmarks.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer

VIDEO = "$video"
"""Stands for the job's video URL in a plan."""

FAL_QUEUE_HOST = "https://queue.fal.run"
DEFAULT_VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def fal_mapping(provider_id: str, *, status: str = "live", task: str = "text-to-video") -> dict:
    return {"status": status, "providerId": provider_id, "task": task}


def replicate_mapping(provider_id: str, *, status: str = "live") -> dict:
    return {"provider": "replicate", **fal_mapping(provider_id, status=status)}


def as_list(mapping: dict[str, dict]) -> list[dict]:
    """The list form of a dict-form mapping."""
    return [{"provider": provider, **entry} for provider, entry in mapping.items()]


def fal_queued(position: int = 0) -> dict:
    return {"status": "IN_QUEUE", "queue_position": position}


def fal_running(*messages: str) -> dict:
    logs = [{"message": m, "level": "INFO", "timestamp": "2026-08-20T10:00:00Z"} for m in messages]
    return {"status": "IN_PROGRESS", "logs": logs}


def fal_completed(error: str | None = None, error_type: str | None = None) -> dict:
    status: dict[str, Any] = {
        "status": "COMPLETED",
        "logs": None,
        "metrics": {"inference_time": 41.2},
    }
    if error is not None:
        status["error"] = error
    if error_type is not None:
        status["error_type"] = error_type
    return status


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def fal_result_error(status: int, detail: Any, error_type: str = "") -> Answer:
    """A failed request's result: ``{"detail": ...}``, with ``error_type`` and the
    ``X-Fal-Error-Type`` header when one is given."""
    body: dict[str, Any] = {"detail": detail}
    headers = {}
    if error_type:
        body["error_type"] = error_type
        headers["x-fal-error-type"] = error_type
    return Answer(status, body, headers)


@dataclass
class FalPlan:
    statuses: list[dict] = field(
        default_factory=lambda: [fal_queued(2), fal_running("step 3/30"), fal_completed()]
    )
    result: Answer | None = None
    """None: the video."""


@dataclass
class FalJob:
    request_id: str
    endpoint: str
    owner_app: str
    body: Any
    plan: FalPlan
    served: int = 0
    completed: bool = False
    cancelled: bool = False


def rep_starting() -> dict:
    return {"status": "starting", "output": None}


def rep_processing(logs: str = "") -> dict:
    return {"status": "processing", "output": None, "logs": logs}


def rep_succeeded(output: Any = VIDEO) -> dict:
    return {"status": "succeeded", "output": output, "metrics": {"predict_time": 71.5}}


def rep_failed(error: str) -> dict:
    return {"status": "failed", "output": None, "error": error}


def rep_aborted() -> dict:
    return {"status": "aborted", "output": None}


@dataclass
class ReplicatePlan:
    states: list[dict] = field(
        default_factory=lambda: [rep_starting(), rep_processing(), rep_succeeded()]
    )


@dataclass
class Prediction:
    id: str
    version: str
    model: str
    input: Any
    prefer: str
    plan: ReplicatePlan
    at: int = 0
    cancelled: bool = False
    expired: bool = False


def _fill(value: Any, url: str) -> Any:
    if value == VIDEO:
        return url
    if isinstance(value, list):
        return [_fill(v, url) for v in value]
    return value


class FakeHuggingFace:
    def __init__(self, *, token: str = "hf_test_token", video: bytes = DEFAULT_VIDEO) -> None:  # noqa: S107
        self.token = token
        self.video = video
        self.mappings: dict[str, Any] = {}
        self.fal_jobs: dict[str, FalJob] = {}
        self.predictions: dict[str, Prediction] = {}
        self.files: dict[str, bytes] = {}
        self._fal_plans: deque[FalPlan] = deque()
        self._replicate_plans: deque[ReplicatePlan] = deque()
        self._failures: dict[str, deque[Answer]] = defaultdict(deque)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._handle)

    # set-up

    def map_model(self, repo: str, mapping: Any) -> FakeHuggingFace:
        """``mapping`` is the ``inferenceProviderMapping`` (dict or list), or None for a model
        the Hub knows but maps to no provider."""
        self.mappings[repo] = mapping
        return self

    def plan_fal(self, *plans: FalPlan) -> FakeHuggingFace:
        self._fal_plans.extend(plans)
        return self

    def plan_replicate(self, *plans: ReplicatePlan) -> FakeHuggingFace:
        self._replicate_plans.extend(plans)
        return self

    def fail_next(
        self, route: str, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> FakeHuggingFace:
        self._failures[route].append(Answer(status, body, dict(headers or {})))
        return self

    def expire(self, prediction_id: str) -> None:
        self.predictions[prediction_id].expired = True
        self.files.pop(f"{prediction_id}.mp4", None)

    # the server

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def url(self, path: str = "") -> str:
        return self._server.base_url + path

    @property
    def requests(self) -> list[LoopbackRequest]:
        return self._server.requests

    def requests_to(self, prefix: str, method: str = "") -> list[LoopbackRequest]:
        return [
            r
            for r in self.requests
            if r.path.startswith(prefix) and (not method or r.method == method)
        ]

    def __enter__(self) -> FakeHuggingFace:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()

    async def _handle(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        if request.path.startswith("/files/"):
            await self._file(request, response)
            return
        if request.headers.get("authorization") != f"Bearer {self.token}":
            await response.send_json(
                401,
                {"error": "Invalid credentials in Authorization header"},
                {"x-error-code": "unauthorized"},
            )
            return
        route, answer = self._route(request)
        with self._lock:
            failure = self._failures[route].popleft() if self._failures[route] else None
        reply = failure or answer()
        await response.send_json(reply.status, reply.body, reply.headers)

    async def _file(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        data = self.files.get(request.path.removeprefix("/files/"))
        if data is None:
            await response.send_json(404, {"detail": "Not found"})
            return
        await response.start(200, {"content-type": "video/mp4", "content-length": str(len(data))})
        await response.write(data)
        await response.end()

    def _route(self, request: LoopbackRequest) -> tuple[str, Callable[[], Answer]]:
        path, method = request.path, request.method
        if path.startswith("/api/models/") and method == "GET":
            return "hub", lambda: self._hub(request)
        if path.startswith("/fal-ai/"):
            return self._fal(request)
        if path.startswith("/replicate/"):
            return self._replicate(request)
        return "other", lambda: Answer(404, {"error": f"no route {method} {path}"})

    # hub

    def _hub(self, request: LoopbackRequest) -> Answer:
        repo = request.path.removeprefix("/api/models/")
        if repo not in self.mappings:
            return Answer(404, {"error": "Repository not found"})
        expand = request.query.get("expand", []) + request.query.get("expand[]", [])
        body: dict[str, Any] = {"_id": f"id-{repo}", "id": repo, "pipeline_tag": "text-to-video"}
        mapping = self.mappings[repo]
        if "inferenceProviderMapping" in expand and mapping is not None:
            body["inferenceProviderMapping"] = copy.deepcopy(mapping)
        return Answer(200, body)

    # fal-ai

    def _fal(self, request: LoopbackRequest) -> tuple[str, Callable[[], Answer]]:
        if request.query.get("_subdomain") != ["queue"]:
            return "other", lambda: Answer(404, {"detail": "Not Found"})
        segments = request.path.removeprefix("/fal-ai/").strip("/").split("/")
        if "requests" not in segments:
            if request.method != "POST":
                return "other", lambda: Answer(405, {"detail": "Method Not Allowed"})
            return "fal_submit", lambda: self._fal_submit(request, "/".join(segments))
        at = segments.index("requests")
        owner_app, rest = "/".join(segments[:at]), segments[at + 1 :]
        job = self.fal_jobs.get(rest[0]) if rest else None
        if job is None or job.owner_app != owner_app:
            return "other", lambda: Answer(404, {"detail": "Request not found"})
        tail = rest[1:]
        if tail == ["status"] and request.method == "GET":
            return "fal_status", lambda: self._fal_status(job)
        if tail == [] and request.method == "GET":
            return "fal_result", lambda: self._fal_result(job)
        if tail == ["cancel"] and request.method == "PUT":
            return "fal_cancel", lambda: self._fal_cancel(job)
        return "other", lambda: Answer(405, {"detail": "Method Not Allowed"})

    def _fal_submit(self, request: LoopbackRequest, endpoint: str) -> Answer:
        body = request.json()
        if not isinstance(body, dict) or not body.get("prompt"):
            detail = [{"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}]
            return Answer(422, {"detail": detail})
        with self._lock:
            plan = self._fal_plans.popleft() if self._fal_plans else FalPlan()
            request_id = f"r{next(self._ids)}"
            owner_app = "/".join(endpoint.split("/")[:2])
            self.fal_jobs[request_id] = FalJob(request_id, endpoint, owner_app, body, plan)
        base = f"{FAL_QUEUE_HOST}/{owner_app}/requests/{request_id}"
        return Answer(
            200,
            {
                "request_id": request_id,
                "status": "IN_QUEUE",
                "queue_position": 2,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
            },
        )

    def _fal_status(self, job: FalJob) -> Answer:
        with self._lock:
            statuses = job.plan.statuses
            status = statuses[min(job.served, len(statuses) - 1)]
            job.served += 1
            if status.get("status") == "COMPLETED":
                job.completed = True
        return Answer(200, copy.deepcopy(status))

    def _fal_result(self, job: FalJob) -> Answer:
        if job.plan.result is not None:
            return job.plan.result
        name = f"{job.request_id}.mp4"
        self.files[name] = self.video
        video = {
            "url": self.url(f"/files/{name}"),
            "content_type": "video/mp4",
            "file_name": name,
            "file_size": len(self.video),
        }
        return Answer(200, {"video": video, "seed": 7})

    def _fal_cancel(self, job: FalJob) -> Answer:
        if job.completed:
            return Answer(400, {"status": "ALREADY_COMPLETED"})
        job.cancelled = True
        return Answer(202, {"status": "CANCELLATION_REQUESTED"})

    # replicate

    def _replicate(self, request: LoopbackRequest) -> tuple[str, Callable[[], Answer]]:
        segments = request.path.removeprefix("/replicate/").strip("/").split("/")
        method = request.method
        if segments == ["v1", "predictions"] and method == "POST":
            return "replicate_create", lambda: self._replicate_create(request, model="")
        if (
            len(segments) == 5
            and segments[:2] == ["v1", "models"]
            and segments[4] == "predictions"
            and method == "POST"
        ):
            return "replicate_create", lambda: self._replicate_create(
                request, model="/".join(segments[2:4])
            )
        if len(segments) >= 3 and segments[:2] == ["v1", "predictions"]:
            prediction = self.predictions.get(segments[2])
            if prediction is None or prediction.expired:
                route = "replicate_cancel" if segments[3:] == ["cancel"] else "replicate_get"
                return route, lambda: Answer(404, {"detail": "Not found."})
            if len(segments) == 3 and method == "GET":
                return "replicate_get", lambda: self._replicate_get(prediction)
            if segments[3:] == ["cancel"] and method == "POST":
                return "replicate_cancel", lambda: self._replicate_cancel(prediction)
        return "other", lambda: Answer(404, {"detail": "Not found."})

    def _prediction(self, prediction: Prediction) -> dict[str, Any]:
        states = prediction.plan.states
        state = states[min(prediction.at, len(states) - 1)]
        if prediction.cancelled and state.get("status") not in ("succeeded", "failed"):
            state = {"status": "canceled", "output": None}
        name = f"{prediction.id}.mp4"
        api = f"https://api.replicate.com/v1/predictions/{prediction.id}"
        body: dict[str, Any] = {
            "id": prediction.id,
            "model": prediction.model,
            "version": prediction.version,
            "input": prediction.input,
            "logs": "",
            "output": None,
            "error": None,
            "data_removed": False,
            "created_at": "2026-08-20T10:00:00.000Z",
            "urls": {"get": api, "cancel": f"{api}/cancel", "stream": None},
        }
        for key, value in state.items():
            body[key] = _fill(copy.deepcopy(value), self.url(f"/files/{name}"))
        if body["status"] == "succeeded" and not prediction.expired:
            self.files[name] = self.video
        return body

    def _replicate_create(self, request: LoopbackRequest, *, model: str) -> Answer:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return Answer(422, {"detail": "input is required", "status": 422})
        if not model and not body.get("version"):
            return Answer(422, {"detail": "version is required", "status": 422})
        with self._lock:
            plan = self._replicate_plans.popleft() if self._replicate_plans else ReplicatePlan()
            prediction = Prediction(
                id=f"p{next(self._ids)}",
                version=str(body.get("version") or ""),
                model=model,
                input=body["input"],
                prefer=request.headers.get("prefer", ""),
                plan=plan,
            )
            self.predictions[prediction.id] = prediction
        return Answer(201, self._prediction(prediction))

    def _replicate_get(self, prediction: Prediction) -> Answer:
        with self._lock:
            prediction.at += 1
        return Answer(200, self._prediction(prediction))

    def _replicate_cancel(self, prediction: Prediction) -> Answer:
        prediction.cancelled = True
        return Answer(200, self._prediction(prediction))
