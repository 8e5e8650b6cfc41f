"""Runway's developer API (../shared/PROTOCOLS-VIDEO.md §6).

- Submit: ``POST /v1/text_to_video`` or ``POST /v1/image_to_video`` (camelCase JSON, discriminated
  by ``model``) → ``200 {"id": …}``. Every request carries ``Authorization: Bearer <key>`` and
  ``X-Runway-Version: 2024-11-06``.
- Poll: ``GET /v1/tasks/{id}`` → ``status`` ``PENDING`` | ``THROTTLED`` (accepted, waiting for a
  concurrency slot) | ``RUNNING`` (``progress`` a float 0..1) | ``SUCCEEDED`` (``output``: URLs)
  | ``FAILED`` (``failure``, optional ``failureCode``) | ``CANCELLED`` (also spelt ``CANCELED``).
- Cancel: ``DELETE /v1/tasks/{id}`` → ``204``. A cancelled task is deleted: a later ``GET``
  answers ``404 {"error": "Could not find Task"}``. Since an operation only ever holds an id
  Runway gave us, ``poll`` reads that 404 as the task being gone (``Failed(cancelled=True)``),
  not as a transient error.

Output URLs are signed and expire within 24 to 48 hours; each ``GET`` of a succeeded task signs
them afresh. ``poll`` therefore always returns the URL current at that moment: when a download
of a result answers 403 or 404, the coordinator polls the same operation again and downloads from
the fresh URL.

Ratios and durations are checked against the model before any request, so a job Runway would
refuse costs no round trip and names what the model accepts. A job asks for an aspect ratio
(``16:9``, ``9:16``, ``1:1``, ...), which becomes the model's resolution (``1280:720``...); a
resolution Runway lists for the model (``1920:1080`` for Veo) is accepted as it is.

Prices are in credits per output second, one credit being $0.01 (``price_per_second``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from generation.providers.transport import short
from videos.providers.base import (
    Done,
    Failed,
    ModelSpec,
    Pending,
    PollResult,
    VideoError,
    VideoErrorKind,
    VideoProvider,
    VideoRequest,
)
from videos.providers.wire import http_error, json_object, send

DEFAULT_BASE_URL = "https://api.dev.runwayml.com"
API_VERSION = "2024-11-06"
DEFAULT_MODEL = "gen4.5"
USD_PER_CREDIT = Decimal("0.01")
MAX_DATA_URI_BYTES = 5_000_000
"""Runway takes an image as a data URI of up to 5 MB (the encoded length)."""
MAX_PROMPT_UTF16_UNITS = 1000
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
POLL_INTERVAL_SECONDS = 5.0
"""Runway: "should not expect updates more frequent than once every five seconds"."""

ASPECT_OF_RATIO = {
    "1280:720": "16:9",
    "1920:1080": "16:9",
    "720:1280": "9:16",
    "1080:1920": "9:16",
    "960:960": "1:1",
    "1104:832": "4:3",
    "832:1104": "3:4",
    "1584:672": "21:9",
}


@dataclass(frozen=True, slots=True)
class RunwayModel:
    """One Runway model and the rules its API enforces (SDK 5.13.0's request types)."""

    id: str
    label: str
    durations: tuple[int, ...]
    text_ratios: tuple[str, ...]
    """Resolutions for text-to-video, in Runway's order; empty: the model needs an image."""
    image_ratios: tuple[str, ...]
    """Resolutions for image-to-video; empty: the model takes no image."""
    credits_per_second: Decimal | None
    quality: str
    takes_seed: bool = False
    takes_negative_prompt: bool = False

    def ratios(self, with_image: bool) -> tuple[str, ...]:
        return self.image_ratios if with_image else self.text_ratios

    def aspects(self, with_image: bool) -> tuple[str, ...]:
        """The aspect ratios a job may ask for, in Runway's order, without repeats."""
        seen: dict[str, None] = {}
        for ratio in self.ratios(with_image):
            seen.setdefault(ASPECT_OF_RATIO.get(ratio, ratio), None)
        return tuple(seen)

    def runway_ratio(self, asked: str, with_image: bool) -> str | None:
        """The resolution to send for the aspect ratio (or Runway resolution) a job asks for."""
        allowed = self.ratios(with_image)
        if asked in allowed:
            return asked
        return next((r for r in allowed if ASPECT_OF_RATIO.get(r) == asked), None)


_VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")
_GEN4_IMAGE_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")

MODELS: dict[str, RunwayModel] = {
    model.id: model
    for model in (
        RunwayModel(
            id="gen4.5",
            label="Runway Gen-4.5",
            durations=tuple(range(2, 11)),
            text_ratios=("1280:720", "720:1280"),
            image_ratios=("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672"),
            credits_per_second=Decimal(12),
            quality="high",
            takes_seed=True,
        ),
        RunwayModel(
            id="gen4_turbo",
            label="Runway Gen-4 Turbo (image to video)",
            durations=tuple(range(2, 11)),
            text_ratios=(),
            image_ratios=_GEN4_IMAGE_RATIOS,
            credits_per_second=Decimal(5),
            quality="fast",
            takes_seed=True,
        ),
        RunwayModel(
            id="veo3.1",
            label="Veo 3.1 on Runway",
            durations=(4, 6, 8),
            text_ratios=_VEO_RATIOS,
            image_ratios=_VEO_RATIOS,
            credits_per_second=Decimal(40),
            quality="premium",
            takes_negative_prompt=True,
        ),
        RunwayModel(
            id="veo3.1_fast",
            label="Veo 3.1 Fast on Runway",
            durations=(4, 6, 8),
            text_ratios=_VEO_RATIOS,
            image_ratios=_VEO_RATIOS,
            credits_per_second=Decimal(15),
            quality="fast",
            takes_negative_prompt=True,
        ),
        RunwayModel(
            id="veo3",
            label="Veo 3 on Runway",
            durations=(8,),
            text_ratios=_VEO_RATIOS,
            image_ratios=_VEO_RATIOS,
            credits_per_second=Decimal(40),
            quality="premium",
            takes_negative_prompt=True,
        ),
    )
}
"""Credits per second from Runway's own API reference (2026); where Runway quotes a range
(Veo 3.1 with and without audio) the upper end, which is what a budget must reserve."""


def credits_per_second(model: str) -> Decimal | None:
    spec = MODELS.get(model)
    return spec.credits_per_second if spec else None


def price_per_second(model: str) -> Decimal | None:
    """USD per output second of ``model`` (a Runway model id), None for a model we do not list."""
    credits = credits_per_second(model)
    return None if credits is None else credits * USD_PER_CREDIT


def image_media_type(image: bytes, declared: str) -> str:
    """The image's media type, from what the job declared (``image/png``, ``png``, ``jpg``) or,
    when it declared nothing, from its first bytes."""
    kind = declared.strip().lower()
    if kind and "/" not in kind:
        kind = f"image/{kind}"
    if kind == "image/jpg":
        kind = "image/jpeg"
    if kind:
        return kind
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if image.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def data_uri(image: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(image).decode('ascii')}"


def task_body(
    model: RunwayModel, request: VideoRequest, ratio: str, image_uri: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model.id,
        "promptText": request.prompt,
        "ratio": ratio,
        "duration": int(request.duration_seconds),
    }
    if image_uri:
        body["promptImage"] = image_uri
    if model.takes_seed and request.seed is not None:
        body["seed"] = request.seed
    if model.takes_negative_prompt and request.negative_prompt:
        body["negativePrompt"] = request.negative_prompt
    return body


def failure_kind(code: str) -> tuple[VideoErrorKind, bool]:
    """The kind of a task's ``failureCode`` and whether another attempt may succeed."""
    if code.startswith(("SAFETY.", "INPUT_PREPROCESSING.SAFETY")):
        return VideoErrorKind.CONTENT_FILTER, False
    if code.startswith("ASSET."):
        return VideoErrorKind.BAD_REQUEST, False
    return VideoErrorKind.UNAVAILABLE, True


def parse_task(task: Mapping[str, Any]) -> PollResult:
    """One ``GET /v1/tasks/{id}`` answer as pending, done or failed (unknown fields ignored)."""
    status = str(task.get("status") or "").upper()
    if status == "SUCCEEDED":
        output = task.get("output")
        urls = [u for u in output if isinstance(u, str) and u] if isinstance(output, list) else []
        if not urls:
            return Failed(
                "Runway reported success without an output URL",
                kind=VideoErrorKind.UNAVAILABLE,
                retryable=True,
            )
        details: dict[str, Any] = {"task_id": task.get("id"), "outputs": urls}
        return Done(
            url=urls[0], content_type="video/mp4", cost_usd=_reported_cost(task), details=details
        )
    if status == "FAILED":
        code = str(task.get("failureCode") or "")
        kind, retryable = failure_kind(code)
        reason = short(str(task.get("failure") or "the task failed"))
        return Failed(
            f"{reason} ({code})" if code else reason, code=code, kind=kind, retryable=retryable
        )
    if status in ("CANCELLED", "CANCELED"):
        return Failed("the task was cancelled", code=status, cancelled=True)
    progress: float | None = None
    if status == "RUNNING":
        progress = _percent(task.get("progress"))
    message = "waiting for a free generation slot" if status == "THROTTLED" else ""
    return Pending(
        progress=progress,
        state=status or "UNKNOWN",
        message=message,
        retry_after=POLL_INTERVAL_SECONDS,
    )


def _percent(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(max(float(value) * 100.0, 0.0), 100.0)


def _reported_cost(task: Mapping[str, Any]) -> str:
    cost = task.get("cost")
    credits = cost.get("credits") if isinstance(cost, dict) else None
    if isinstance(credits, bool) or not isinstance(credits, int | float | str):
        return ""
    try:
        return str(Decimal(str(credits)) * USD_PER_CREDIT)
    except InvalidOperation:
        return ""


def error_message(body: bytes, status: int) -> str:
    """Runway's ``{"error": …, "issues": [{"path", "message"}…]}`` as one line."""
    try:
        payload = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return short(body.decode("utf-8", "replace")) or f"HTTP {status}"
    message = str(payload.get("error") or payload.get("message") or f"HTTP {status}")
    issues = payload.get("issues")
    if isinstance(issues, list):
        parts = []
        for issue in issues:
            if not isinstance(issue, dict):
                continue
            path = ".".join(str(p) for p in issue.get("path") or ())
            text = str(issue.get("message") or issue.get("code") or "")
            parts.append(f"{path}: {text}" if path else text)
        if parts:
            message = f"{message}: {'; '.join(parts)}"
    return short(message)


class RunwayProvider(VideoProvider):
    name = "runway"
    label = "Runway"
    how_to_configure = (
        "Set RUNWAY_API_KEY (and optionally RUNWAY_BASE_URL), "
        "or enter a Runway key in the admin under Provider credentials."
    )

    @property
    def base_url(self) -> str:
        return str(self.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    @property
    def default_model(self) -> str:
        return str(self.options.get("model") or DEFAULT_MODEL)

    def is_configured(self) -> bool:
        return bool(self.options.get("api_key"))

    def models(self) -> tuple[ModelSpec, ...]:
        default = MODELS.get(self.default_model, MODELS[DEFAULT_MODEL])
        specs = [self._spec("runway", default)]
        specs.extend(self._spec(f"runway-{model.id}", model) for model in MODELS.values())
        return tuple(specs)

    @staticmethod
    def _spec(name: str, model: RunwayModel) -> ModelSpec:
        return ModelSpec(
            name=name,
            label=model.label,
            provider_model=model.id,
            max_duration_seconds=float(max(model.durations)),
            durations=tuple(float(d) for d in model.durations),
            ratios=model.aspects(with_image=not model.text_ratios),
            image_to_video=bool(model.image_ratios),
            text_to_video=bool(model.text_ratios),
            quality=model.quality,
        )

    def key_check_url(self) -> str:
        return f"{self.base_url}/v1/organization"

    def headers(self) -> dict[str, str]:
        return {
            "authorization": f"Bearer {self.options.get('api_key', '')}",
            "x-runway-version": str(self.options.get("api_version") or API_VERSION),
            "accept": "application/json",
        }

    def resolve_model(self, asked: str) -> RunwayModel:
        wanted = asked or self.default_model
        if wanted == "runway":
            wanted = self.default_model
        wanted = wanted.removeprefix("runway-")
        model = MODELS.get(wanted)
        if model is None:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"Runway has no model {wanted!r} here; it serves {', '.join(MODELS)}",
            )
        return model

    def validate(self, request: VideoRequest) -> tuple[RunwayModel, str, str]:
        """The model, the resolution and the image data URI for ``request``, or a
        ``bad_request`` naming what the model accepts (nothing is sent)."""
        model = self.resolve_model(request.model)
        with_image = request.image is not None
        if with_image and not model.image_ratios:
            raise self.error(VideoErrorKind.BAD_REQUEST, f"{model.id} takes no image")
        if not with_image and not model.text_ratios:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"{model.id} is image-to-video only: it needs an image to start from",
            )
        ratio = model.runway_ratio(request.aspect_ratio, with_image)
        if ratio is None:
            mode = "image-to-video" if with_image else "text-to-video"
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"{model.id} {mode} does not make {request.aspect_ratio!r}; it takes "
                f"{', '.join(model.aspects(with_image))} (Runway resolutions "
                f"{', '.join(model.ratios(with_image))})",
            )
        seconds = request.duration_seconds
        if seconds != int(seconds) or int(seconds) not in model.durations:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"{model.id} does not make {seconds:g} s clips; it takes {_durations(model)}",
            )
        if not request.prompt.strip():
            raise self.error(VideoErrorKind.BAD_REQUEST, "Runway needs a prompt")
        units = len(request.prompt.encode("utf-16-le")) // 2
        if units > MAX_PROMPT_UTF16_UNITS:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"{model.id} takes prompts up to {MAX_PROMPT_UTF16_UNITS} characters "
                f"(UTF-16 units), this one has {units}",
            )
        if request.seed is not None and model.takes_seed and not 0 <= request.seed <= 4294967295:
            raise self.error(VideoErrorKind.BAD_REQUEST, "Runway seeds are 0 to 4294967295")
        image_uri = ""
        if request.image is not None:
            media_type = image_media_type(request.image, request.image_type)
            if media_type not in IMAGE_TYPES:
                raise self.error(
                    VideoErrorKind.BAD_REQUEST,
                    f"Runway takes JPEG, PNG or WebP images, not {media_type}",
                )
            image_uri = data_uri(request.image, media_type)
            if len(image_uri) > MAX_DATA_URI_BYTES:
                raise self.error(
                    VideoErrorKind.BAD_REQUEST,
                    f"Runway takes an image as a data URI of up to 5 MB; this one is "
                    f"{len(image_uri) / 1_000_000:.1f} MB encoded",
                )
        return model, ratio, image_uri

    async def submit(self, request: VideoRequest) -> dict[str, Any]:
        model, ratio, image_uri = self.validate(request)
        endpoint = "image_to_video" if image_uri else "text_to_video"
        body = task_body(model, request, ratio, image_uri)
        response = await self._send("POST", f"/v1/{endpoint}", body=body)
        if response.status_code >= 300:
            raise self.http_error(response)
        task_id = self.json_object(response).get("id")
        if not isinstance(task_id, str) or not task_id:
            raise self.error(
                VideoErrorKind.UNAVAILABLE,
                "Runway accepted the task without giving its id",
                status_code=response.status_code,
            )
        return {
            "task_id": task_id,
            "model": model.id,
            "endpoint": endpoint,
            "ratio": ratio,
            "duration": body["duration"],
        }

    async def poll(self, operation: dict[str, Any]) -> PollResult:
        task_id = self.task_id(operation)
        response = await self._send("GET", f"/v1/tasks/{task_id}")
        if response.status_code == 404:
            return Failed(
                "the task no longer exists (Runway deletes a task when it is cancelled)",
                code="not_found",
                cancelled=True,
            )
        if response.status_code >= 300:
            raise self.http_error(response)
        return parse_task(self.json_object(response))

    async def cancel(self, operation: dict[str, Any]) -> None:
        task_id = self.task_id(operation)
        response = await self._send("DELETE", f"/v1/tasks/{task_id}", accept="*/*")
        if response.status_code == 404 or response.status_code < 300:
            return
        raise self.http_error(response)

    async def _send(
        self, method: str, path: str, *, body: Any = None, accept: str = ""
    ) -> httpx.Response:
        headers = self.headers()
        if accept:
            headers["accept"] = accept
        return await send(
            self, method, self.base_url + path, json=body, headers=headers, what="Runway"
        )

    def task_id(self, operation: Mapping[str, Any]) -> str:
        task_id = operation.get("task_id")
        if not isinstance(task_id, str) or not task_id or "/" in task_id:
            raise self.error(VideoErrorKind.BAD_REQUEST, f"not a Runway operation: {operation!r}")
        return task_id

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        return json_object(self, response, what="Runway")

    def http_error(self, response: httpx.Response) -> VideoError:
        message = error_message(response.content, response.status_code)
        return http_error(
            self, response, message, quota_phrases=("enough credits", "insufficient credits")
        )


def _durations(model: RunwayModel) -> str:
    durations = model.durations
    if len(durations) > 2 and durations == tuple(range(durations[0], durations[-1] + 1)):
        return f"whole seconds from {durations[0]} to {durations[-1]}"
    if len(durations) == 1:
        return f"{durations[0]} s only"
    return f"{', '.join(str(d) for d in durations[:-1])} or {durations[-1]} s"
