"""HunyuanVideo, CogVideoX-5B and LTX-Video through Hugging Face Inference Providers
(../shared/PROTOCOLS-VIDEO.md §8).

Hugging Face runs no text-to-video model itself: its router forwards a call to an inference
provider that serves the model, billed to the token's account. Which provider serves which Hub
repository is the repository's *provider mapping*, read from the Hub at submit
(``GET {hub_url}/api/models/{repo}?expand=inferenceProviderMapping``; the answer is a dict keyed by
provider or a list of entries, an entry whose ``status`` is ``error`` is skipped) unless settings
fix it. fal-ai is preferred, then replicate; a model neither serves fails its submit at once with a
clear, non-retryable ``bad_request``.

fal-ai, through the router's queue (``?_subdomain=queue``):

- submit ``POST {router}/fal-ai/{provider_model}`` → ``request_id`` and fal's ``response_url``,
  ``status_url``, ``cancel_url``, whose paths lack the endpoint's sub-path; the router is asked
  at ``{router}/fal-ai{path}``;
- status ``IN_QUEUE`` (+ ``queue_position``) and ``IN_PROGRESS`` are pending; ``COMPLETED`` with
  ``error``/``error_type`` is a failure (content filters final, runner failures and timeouts
  retryable); ``COMPLETED`` without is followed by the result GET, whose ``video.url`` is the clip
  and whose non-2xx answer (``detail``, ``X-Fal-Error-Type``) is a failure;
- cancel ``PUT`` the cancel URL (``CANCELLATION_REQUESTED``; ``ALREADY_COMPLETED`` and
  ``NOT_FOUND`` are fine too).

replicate, through the router (``{router}/replicate``): ``POST /v1/predictions`` with ``version``
for a versioned id (``owner/name:version``), else ``POST /v1/models/{owner}/{name}/predictions``,
with ``Prefer: wait=N`` (a short hold: the answer may still be ``starting``/``processing`` with
``output: null``); poll ``GET /v1/predictions/{id}``; ``succeeded`` with ``output`` (a URL or a
list of them) is the clip, ``failed``/``canceled``/``aborted`` end it; cancel
``POST /v1/predictions/{id}/cancel``.

Options: ``api_key`` (HF_TOKEN, sent as ``Authorization: Bearer``), ``base_url`` (the router,
default ``https://router.huggingface.co``), ``hub_url`` (default ``https://huggingface.co``),
``prefer_wait`` (seconds replicate may hold a create, default 5), and ``models``: catalogue name
→ a repo id, or ``{"repo", "provider"?, "provider_model"?, "label"?, "max_duration_seconds"?,
"price_per_clip"?, "input"?}`` where ``provider`` + ``provider_model`` skip the lookup and
``input`` adds fields to every payload sent for that model.

The operation a submit returns:

- fal-ai: ``{"provider": "fal-ai", "model", "repo", "provider_model", "request_id",
  "status_path", "response_path", "cancel_path"}`` (paths on fal's queue, asked via the router);
- replicate: ``{"provider": "replicate", "model", "repo", "provider_model", "prediction_id"}``
  plus ``"prediction"`` (its ``status``, ``output``, ``error``) when the create answer was already
  final.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

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
from videos.providers.wire import (
    error_message,
    json_body,
    parse_retry_after,
    send,
    short,
    status_error,
)

ROUTER_URL = "https://router.huggingface.co"
HUB_URL = "https://huggingface.co"
FAL = "fal-ai"
REPLICATE = "replicate"
PROVIDER_ORDER = (FAL, REPLICATE)
QUEUE_PARAMS = {"_subdomain": "queue"}
DEFAULT_PREFER_WAIT = 5

FAL_PRICES: dict[str, Decimal] = {
    "fal-ai/cogvideox-5b": Decimal("0.20"),
    "fal-ai/ltx-video-13b-dev": Decimal("0.20"),
    "fal-ai/ltx-video-13b-distilled/multiconditioning": Decimal("0.04"),
    "fal-ai/hunyuan-video-image-to-video": Decimal("0.40"),
}
"""fal's list prices per clip where they are published (PROTOCOLS-VIDEO.md §8.3.8)."""


@dataclass(frozen=True, slots=True)
class HFModel:
    name: str
    label: str
    repo: str
    max_duration_seconds: float
    ratios: tuple[str, ...]
    quality: str = ""
    expected_fal_model: str = ""
    """The fal endpoint Hugging Face is known to route this repo to (for the price)."""
    provider: str = ""
    provider_model: str = ""
    price: Decimal | None = None
    extra_input: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fixed_route(self) -> Route | None:
        if self.provider and self.provider_model:
            return Route(self.provider, self.provider_model)
        return None


@dataclass(frozen=True, slots=True)
class Route:
    provider: str
    provider_model: str


DEFAULT_MODELS: dict[str, HFModel] = {
    "hunyuan": HFModel(
        name="hunyuan",
        label="HunyuanVideo",
        repo="tencent/HunyuanVideo",
        max_duration_seconds=5.0,
        ratios=("16:9", "9:16"),
        quality="high",
        expected_fal_model="fal-ai/hunyuan-video",
    ),
    "cogvideox": HFModel(
        name="cogvideox",
        label="CogVideoX-5B",
        repo="zai-org/CogVideoX-5b",
        max_duration_seconds=6.0,
        ratios=("16:9",),
        quality="standard",
        expected_fal_model="fal-ai/cogvideox-5b",
    ),
    "ltx": HFModel(
        name="ltx",
        label="LTX-Video",
        repo="Lightricks/LTX-Video",
        max_duration_seconds=5.0,
        ratios=("16:9",),
        quality="standard",
        expected_fal_model="fal-ai/ltx-video",
    ),
}


def model_from_setting(name: str, value: Any) -> HFModel:
    """One catalogue entry from the ``models`` option (a repo id or a dict)."""
    base = DEFAULT_MODELS.get(name)
    if isinstance(value, str):
        value = {"repo": value}
    if not isinstance(value, Mapping) or not (value.get("repo") or base):
        raise ValueError(f"Hugging Face model {name!r}: give a repo id or a dict with 'repo'")
    price = value.get("price_per_clip")
    extra = value.get("input") or {}
    if not isinstance(extra, Mapping):
        raise ValueError(f"Hugging Face model {name!r}: 'input' must be a dict")
    return HFModel(
        name=name,
        label=str(value.get("label") or (base.label if base else name)),
        repo=str(value.get("repo") or (base.repo if base else "")),
        max_duration_seconds=float(
            value.get("max_duration_seconds") or (base.max_duration_seconds if base else 5.0)
        ),
        ratios=tuple(value.get("ratios") or (base.ratios if base else ("16:9",))),
        quality=str(value.get("quality") or (base.quality if base else "")),
        expected_fal_model=base.expected_fal_model if base else "",
        provider=str(value.get("provider") or ""),
        provider_model=str(value.get("provider_model") or ""),
        price=Decimal(str(price)) if price not in (None, "") else None,
        extra_input=dict(extra),
    )


def mapping_entries(mapping: Any) -> list[dict[str, Any]]:
    """The entries of an ``inferenceProviderMapping``, each with its ``provider``, whether the Hub
    answered the dict form or the list form."""
    entries: list[dict[str, Any]] = []
    if isinstance(mapping, Mapping):
        for provider, entry in mapping.items():
            if isinstance(entry, Mapping):
                entries.append({**entry, "provider": entry.get("provider") or provider})
    elif isinstance(mapping, list):
        entries.extend(dict(e) for e in mapping if isinstance(e, Mapping))
    return entries


def usable_entries(mapping: Any) -> list[dict[str, Any]]:
    """Entries that can take a text-to-video call now: not ``status: error``, with a provider
    id, for the ``text-to-video`` task where a task is named."""
    return [
        entry
        for entry in mapping_entries(mapping)
        if entry.get("status") != "error"
        and entry.get("providerId")
        and entry.get("task", "text-to-video") == "text-to-video"
    ]


def pick_route(mapping: Any) -> Route | None:
    """fal-ai if it serves the model, else replicate; None when neither does."""
    by_provider = {str(e["provider"]): str(e["providerId"]) for e in usable_entries(mapping)}
    for provider in PROVIDER_ORDER:
        if provider in by_provider:
            return Route(provider, by_provider[provider])
    return None


def _common_input(request: VideoRequest) -> dict[str, Any]:
    payload: dict[str, Any] = {"prompt": request.prompt}
    if request.negative_prompt:
        payload["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        payload["seed"] = request.seed
    return payload


def fal_input(model: HFModel, provider_model: str, request: VideoRequest) -> dict[str, Any]:
    """The body of a fal submit. ``negative_prompt`` is a string (fal's field, not the list the
    HF client's signature takes); HunyuanVideo's endpoint also takes the aspect ratio and a
    frame count of ``"85"`` or ``"129"`` (about 3.5 s or 5.4 s at 24 fps)."""
    payload = _common_input(request)
    if provider_model == "fal-ai/hunyuan-video":
        if request.aspect_ratio in ("16:9", "9:16"):
            payload["aspect_ratio"] = request.aspect_ratio
        payload["num_frames"] = "85" if request.duration_seconds <= 4.0 else "129"
    payload.update(model.extra_input)
    return payload


def replicate_input(model: HFModel, request: VideoRequest) -> dict[str, Any]:
    payload = _common_input(request)
    payload.update(model.extra_input)
    return payload


def _queue_path(url: Any) -> str:
    return urlsplit(url).path.rstrip("/") if isinstance(url, str) and url else ""


def fal_paths(answer: Mapping[str, Any], provider_model: str) -> dict[str, str]:
    """Where the router asks fal about a request: the *paths* of the URLs fal answered (their host
    is fal's own), which lack the endpoint's sub-path."""
    request_id = str(answer.get("request_id") or "")
    response_path = _queue_path(answer.get("response_url"))
    if not response_path:
        owner_app = "/".join(provider_model.split("/")[:2])
        response_path = f"/{owner_app}/requests/{quote(request_id, safe='')}"
    return {
        "response_path": response_path,
        "status_path": _queue_path(answer.get("status_url")) or f"{response_path}/status",
        "cancel_path": _queue_path(answer.get("cancel_url")) or f"{response_path}/cancel",
    }


_CONTENT_MARKS = ("content_policy", "content policy", "nsfw", "safety", "moderat", "content_filter")


def _is_content_filter(*texts: str) -> bool:
    joined = " ".join(texts).lower()
    return any(mark in joined for mark in _CONTENT_MARKS)


def fal_failure(message: str, error_type: str, *, status: int | None = None) -> Failed:
    """A fal request that ended in an error, classified by its ``error_type`` (fal's request-error
    types: ``runner_*`` and ``*_timeout`` are infrastructure and worth another try; a content
    filter or a validation error is final)."""
    reason = short(message or error_type or "fal reported an error")
    if _is_content_filter(error_type, message):
        code = error_type or "content_filter"
        return Failed(reason, code=code, kind=VideoErrorKind.CONTENT_FILTER)
    if error_type in ("client_cancelled", "client_disconnected"):
        return Failed(reason, code=error_type, cancelled=True)
    if error_type.endswith("_timeout"):
        return Failed(reason, code=error_type, kind=VideoErrorKind.TIMEOUT, retryable=True)
    if error_type.startswith("runner_") or error_type == "internal_error":
        return Failed(reason, code=error_type, kind=VideoErrorKind.UNAVAILABLE, retryable=True)
    if error_type == "bad_request" or (status is not None and 400 <= status < 500):
        return Failed(reason, code=error_type or "bad_request", kind=VideoErrorKind.BAD_REQUEST)
    if status is not None and status >= 500:
        return Failed(reason, code=error_type, kind=VideoErrorKind.UNAVAILABLE, retryable=True)
    return Failed(reason, code=error_type, kind=VideoErrorKind.UNAVAILABLE)


def fal_status(payload: Any) -> PollResult | None:
    """Pending or Failed from a status answer; None for ``COMPLETED`` without an error (the
    result must be fetched)."""
    if not isinstance(payload, Mapping):
        return Pending(state="unknown")
    state = str(payload.get("status") or "")
    if state == "COMPLETED":
        error, error_type = payload.get("error"), payload.get("error_type")
        if error or error_type:
            return fal_failure(str(error or ""), str(error_type or ""))
        return None
    if state == "IN_QUEUE":
        position = payload.get("queue_position")
        message = f"position {position} in fal's queue" if isinstance(position, int) else ""
        return Pending(state=state, message=message)
    message = ""
    logs = payload.get("logs")
    if isinstance(logs, list) and logs and isinstance(logs[-1], Mapping):
        message = short(str(logs[-1].get("message") or ""), 200)
    return Pending(state=state or "unknown", message=message)


def fal_result(payload: Any) -> Done | Failed:
    video = payload.get("video") if isinstance(payload, Mapping) else None
    url = video.get("url") if isinstance(video, Mapping) else None
    if not isinstance(url, str) or not url:
        return Failed("fal's result has no video URL", code="no_video")
    details: dict[str, Any] = {}
    if isinstance(payload, Mapping) and payload.get("seed") is not None:
        details["seed"] = payload["seed"]
    content_type = video.get("content_type") if isinstance(video, Mapping) else ""
    return Done(url=url, content_type=str(content_type or ""), details=details)


def _fal_result_failure(response: httpx.Response) -> Failed:
    """The result GET of a failed request answers non-2xx with ``detail`` (a string, or a list of
    typed validation errors) and ``X-Fal-Error-Type``."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error_type = response.headers.get("x-fal-error-type", "")
    detail_types: list[str] = []
    if isinstance(body, Mapping):
        error_type = error_type or str(body.get("error_type") or "")
        detail = body.get("detail")
        if isinstance(detail, list):
            detail_types = [str(d.get("type") or "") for d in detail if isinstance(d, Mapping)]
    message = error_message(body, response.headers) or f"HTTP {response.status_code}"
    if response.status_code == 404 and not error_type:
        return Failed(
            f"fal no longer has this request's result ({message})",
            code="not_found",
            kind=VideoErrorKind.UNAVAILABLE,
            retryable=True,
        )
    failure = fal_failure(
        message, error_type or ",".join(t for t in detail_types if t), status=response.status_code
    )
    if not error_type and detail_types and failure.kind != VideoErrorKind.CONTENT_FILTER:
        return Failed(failure.reason, code=detail_types[0], kind=VideoErrorKind.BAD_REQUEST)
    return failure


def _has_detail(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, Mapping) and ("detail" in body or "error_type" in body)


_PERCENT = re.compile(r"(\d{1,3})%\|")
FINAL_PREDICTION = frozenset({"succeeded", "failed", "canceled", "aborted"})


def _output_url(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        urls = [o for o in output if isinstance(o, str) and o]
        videos = [u for u in urls if urlsplit(u).path.lower().endswith((".mp4", ".webm", ".mov"))]
        return (videos or urls or [""])[0]
    if isinstance(output, Mapping):
        return _output_url(output.get("video") or output.get("url"))
    return ""


def prediction_result(payload: Any) -> PollResult:
    """A Replicate prediction's state."""
    if not isinstance(payload, Mapping):
        return Pending(state="unknown")
    state = str(payload.get("status") or "")
    if state == "succeeded":
        url = _output_url(payload.get("output"))
        if url:
            details = {"prediction_id": payload.get("id")}
            metrics = payload.get("metrics")
            if isinstance(metrics, Mapping) and metrics.get("predict_time") is not None:
                details["predict_time"] = metrics["predict_time"]
            return Done(url=url, details=details)
        if payload.get("data_removed"):
            return Failed(
                "Replicate deleted the output (API outputs are kept for one hour)",
                code="data_removed",
            )
        return Failed("Replicate's prediction succeeded without an output", code="no_output")
    if state == "failed":
        error = short(str(payload.get("error") or "the prediction failed"))
        if _is_content_filter(error):
            return Failed(error, code="content_filter", kind=VideoErrorKind.CONTENT_FILTER)
        return Failed(error, code="failed")
    if state == "canceled":
        return Failed("the prediction was cancelled", code="canceled", cancelled=True)
    if state == "aborted":
        return Failed(
            "the prediction was aborted: its deadline passed before it started",
            code="aborted",
            kind=VideoErrorKind.TIMEOUT,
            retryable=True,
        )
    progress = None
    logs = payload.get("logs")
    if isinstance(logs, str):
        found = _PERCENT.findall(logs)
        if found:
            progress = float(min(int(found[-1]), 100))
    return Pending(progress=progress, state=state or "unknown")


def _throttle_seconds(response: httpx.Response) -> float | None:
    """Replicate says how long to wait in the text of its 429 (``Expected available in 1
    second.``) when it sends no header."""
    waited = parse_retry_after(response.headers)
    if waited is not None:
        return waited
    found = re.search(r"available in (\d+(?:\.\d+)?) second", response.text)
    return float(found.group(1)) if found else None


class HuggingFaceProvider(VideoProvider):
    name = "huggingface"
    label = "Hugging Face"
    how_to_configure = (
        "Set HF_TOKEN to a Hugging Face access token (hf_…) allowed to make calls to Inference "
        "Providers; HunyuanVideo, CogVideoX-5B and LTX-Video then run on the provider Hugging "
        "Face routes each to (fal-ai or replicate), billed to that account."
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
    def base_url(self) -> str:
        return str(self.options.get("base_url") or ROUTER_URL).rstrip("/")

    @property
    def hub_url(self) -> str:
        return str(self.options.get("hub_url") or HUB_URL).rstrip("/")

    @property
    def api_key(self) -> str:
        return str(self.options.get("api_key") or "")

    def is_configured(self) -> bool:
        return bool(self.api_key)

    def models(self) -> tuple[ModelSpec, ...]:
        return tuple(
            ModelSpec(
                name=m.name,
                label=m.label,
                provider_model=m.repo,
                max_duration_seconds=m.max_duration_seconds,
                ratios=m.ratios,
                quality=m.quality,
            )
            for m in self._models.values()
        )

    def price_per_clip(self, name: str) -> Decimal | None:
        """The list price of one clip of the catalogue entry ``name`` where one is published for
        the fal endpoint it runs on (or settings give one), else None."""
        model = self._models.get(name)
        if model is None:
            return None
        if model.price is not None:
            return model.price
        if model.provider and model.provider != FAL:
            return None
        return FAL_PRICES.get(model.provider_model or model.expected_fal_model)

    def key_check_url(self) -> str:
        return f"{self.hub_url}/api/whoami-v2"

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}", "accept": "application/json"}

    def model_for(self, wanted: str) -> HFModel:
        for model in self._models.values():
            if wanted in (model.name, model.repo):
                return model
        known = ", ".join(self._models)
        raise self.error(
            VideoErrorKind.BAD_REQUEST,
            f"no Hugging Face model {wanted!r} in the catalogue (known: {known})",
            retryable=False,
        )

    async def route_for(self, model: HFModel) -> Route:
        """The provider and provider-side id to call: fixed by settings, else the Hub's mapping."""
        fixed = model.fixed_route
        if fixed is not None:
            return fixed
        url = f"{self.hub_url}/api/models/{model.repo}"
        what = f"looking up {model.label}'s inference providers"
        response = await send(
            self,
            "GET",
            url,
            what=what,
            params={"expand": "inferenceProviderMapping"},
            headers=self.headers(),
        )
        if response.status_code == 404:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"{model.label}: the Hugging Face Hub has no model {model.repo}",
                status_code=404,
            )
        if response.status_code >= 400:
            raise status_error(self, response, what=what)
        body = json_body(self, response, what=what)
        mapping = body.get("inferenceProviderMapping") if isinstance(body, Mapping) else None
        route = pick_route(mapping)
        if route is None:
            others = sorted({str(e["provider"]) for e in usable_entries(mapping)})
            extra = f" (only by {', '.join(others)}, which the studio does not call)"
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"{model.label} is not served by any Hugging Face inference provider right now"
                + (extra if others else ""),
                retryable=False,
            )
        return route

    async def submit(self, request: VideoRequest) -> dict[str, Any]:
        if not self.api_key:
            raise self.error(VideoErrorKind.AUTH, "HF_TOKEN is not set", retryable=False)
        model = self.model_for(request.model)
        if request.image is not None:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"{model.label} through Hugging Face makes videos from text only",
                retryable=False,
            )
        route = await self.route_for(model)
        operation: dict[str, Any] = {
            "provider": route.provider,
            "model": model.name,
            "repo": model.repo,
            "provider_model": route.provider_model,
        }
        if route.provider == FAL:
            operation.update(await self._submit_fal(model, route, request))
        else:
            operation.update(await self._submit_replicate(model, route, request))
        return operation

    async def poll(self, operation: dict[str, Any]) -> PollResult:
        if operation.get("provider") == REPLICATE:
            return await self._poll_replicate(operation)
        return await self._poll_fal(operation)

    async def cancel(self, operation: dict[str, Any]) -> None:
        if operation.get("provider") == REPLICATE:
            await self._cancel_replicate(operation)
        else:
            await self._cancel_fal(operation)

    # fal-ai

    def _fal_url(self, path: str) -> str:
        return f"{self.base_url}/fal-ai{path}"

    async def _submit_fal(
        self, model: HFModel, route: Route, request: VideoRequest
    ) -> dict[str, Any]:
        what = f"submitting to fal-ai {route.provider_model}"
        response = await send(
            self,
            "POST",
            self._fal_url(f"/{route.provider_model}"),
            what=what,
            params=QUEUE_PARAMS,
            headers=self.headers(),
            json=fal_input(model, route.provider_model, request),
        )
        if response.status_code >= 400:
            raise self._fal_submit_error(response, what)
        answer = json_body(self, response, what=what)
        if not isinstance(answer, Mapping) or not answer.get("request_id"):
            raise self.error(VideoErrorKind.UNAVAILABLE, f"{what}: the answer has no request_id")
        return {"request_id": str(answer["request_id"]), **fal_paths(answer, route.provider_model)}

    def _fal_submit_error(self, response: httpx.Response, what: str) -> Exception:
        error = status_error(self, response, what=what)
        if response.status_code in (400, 422) and _is_content_filter(
            response.headers.get("x-fal-error-type", ""), response.text
        ):
            error.kind = VideoErrorKind.CONTENT_FILTER
            error.retryable = False
        return error

    async def _poll_fal(self, operation: Mapping[str, Any]) -> PollResult:
        what = "fal status"
        response = await send(
            self,
            "GET",
            self._fal_url(str(operation["status_path"])),
            what=what,
            params=QUEUE_PARAMS,
            headers=self.headers(),
        )
        if response.status_code == 404:
            return Failed(
                f"fal has no request {operation.get('request_id')} any more",
                code="not_found",
                kind=VideoErrorKind.UNAVAILABLE,
            )
        if response.status_code >= 400:
            raise status_error(self, response, what=what)
        state = fal_status(json_body(self, response, what=what))
        if state is not None:
            return state
        return await self._fal_result(operation)

    async def _fal_result(self, operation: Mapping[str, Any]) -> Done | Failed:
        what = "fal result"
        response = await send(
            self,
            "GET",
            self._fal_url(str(operation["response_path"])),
            what=what,
            params=QUEUE_PARAMS,
            headers=self.headers(),
        )
        if response.status_code >= 400:
            fal_marked = bool(response.headers.get("x-fal-error-type")) or _has_detail(response)
            if response.status_code in (401, 403, 429) or (
                response.status_code >= 500 and not fal_marked
            ):
                raise status_error(self, response, what=what)
            return _fal_result_failure(response)
        result = fal_result(json_body(self, response, what=what))
        if isinstance(result, Done):
            details = {**result.details, "request_id": operation.get("request_id")}
            return Done(url=result.url, content_type=result.content_type, details=details)
        return result

    async def _cancel_fal(self, operation: Mapping[str, Any]) -> None:
        what = "fal cancel"
        response = await send(
            self,
            "PUT",
            self._fal_url(str(operation["cancel_path"])),
            what=what,
            params=QUEUE_PARAMS,
            headers=self.headers(),
        )
        if response.status_code < 400 or response.status_code == 404:
            return
        if response.status_code == 400 and "ALREADY_COMPLETED" in response.text:
            return
        raise status_error(self, response, what=what)

    # replicate

    def _replicate_url(self, path: str) -> str:
        return f"{self.base_url}/replicate{path}"

    async def _submit_replicate(
        self, model: HFModel, route: Route, request: VideoRequest
    ) -> dict[str, Any]:
        owner_name, _, version = route.provider_model.partition(":")
        body: dict[str, Any] = {"input": replicate_input(model, request)}
        if version:
            body["version"] = version
            path = "/v1/predictions"
        else:
            path = f"/v1/models/{owner_name}/predictions"
        wait = int(self.options.get("prefer_wait") or DEFAULT_PREFER_WAIT)
        what = f"creating a Replicate prediction of {owner_name}"
        response = await send(
            self,
            "POST",
            self._replicate_url(path),
            what=what,
            headers={**self.headers(), "prefer": f"wait={max(1, min(wait, 60))}"},
            json=body,
        )
        if response.status_code >= 400:
            raise self._replicate_error(response, what)
        prediction = json_body(self, response, what=what)
        if not isinstance(prediction, Mapping) or not prediction.get("id"):
            raise self.error(VideoErrorKind.UNAVAILABLE, f"{what}: the answer has no id")
        found: dict[str, Any] = {"prediction_id": str(prediction["id"])}
        if prediction.get("status") in FINAL_PREDICTION:
            found["prediction"] = {
                key: prediction.get(key)
                for key in ("id", "status", "output", "error", "data_removed", "metrics")
            }
        return found

    def _replicate_error(self, response: httpx.Response, what: str) -> Exception:
        error = status_error(self, response, what=what)
        if response.status_code == 429:
            error.retry_after = _throttle_seconds(response)
        return error

    async def _poll_replicate(self, operation: Mapping[str, Any]) -> PollResult:
        settled = operation.get("prediction")
        if isinstance(settled, Mapping):
            return prediction_result(settled)
        prediction_id = str(operation["prediction_id"])
        what = "Replicate prediction"
        response = await send(
            self,
            "GET",
            self._replicate_url(f"/v1/predictions/{quote(prediction_id, safe='')}"),
            what=what,
            headers=self.headers(),
        )
        if response.status_code == 404:
            return Failed(
                f"Replicate has no prediction {prediction_id} any more "
                "(API predictions are deleted after one hour)",
                code="not_found",
                kind=VideoErrorKind.UNAVAILABLE,
            )
        if response.status_code >= 400:
            raise self._replicate_error(response, what)
        return prediction_result(json_body(self, response, what=what))

    async def _cancel_replicate(self, operation: Mapping[str, Any]) -> None:
        prediction_id = str(operation["prediction_id"])
        what = "Replicate cancel"
        response = await send(
            self,
            "POST",
            self._replicate_url(f"/v1/predictions/{quote(prediction_id, safe='')}/cancel"),
            what=what,
            headers=self.headers(),
        )
        if response.status_code < 400 or response.status_code == 404:
            return
        raise self._replicate_error(response, what)
