"""Luma's Dream Machine API (../shared/PROTOCOLS-VIDEO.md §7A).

- Submit: ``POST /generations/video`` with ``Authorization: Bearer <key>`` and
  ``{"model", "prompt", "aspect_ratio", "duration": "5s", "resolution": "720p"}`` → ``201`` with
  the Generation (``id``, ``state: "queued"``, ``assets: null``...).
- Poll: ``GET /generations/{id}`` → ``state`` ``queued`` | ``dreaming`` | ``completed`` (with
  ``assets.video``, the MP4, and ``assets.image``, a still) | ``failed`` (with
  ``failure_reason``). ``processing``, the word of Luma's newer API, is read as ``dreaming``.
  Luma gives no progress.
- Cancel: ``DELETE /generations/{id}`` → ``204``; the generation is gone afterwards, so a poll
  that answers 404 reads as cancelled, and a cancel that answers 404 has nothing left to do.
- Errors: every non-2xx answer is ``{"detail": "…"}``.

Image-to-video takes the start frame as an image *URL* (``keyframes.frame0``): Luma fetches it
and takes no image data. A request passes a URL as its ``image`` with ``image_type``
``text/uri-list``; image bytes are refused before any request.

Luma takes no seed and no negative prompt; requests that carry them are sent without them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
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

DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
DEFAULT_MODEL = "ray-2"
DEFAULT_RESOLUTION = "720p"
URL_IMAGE_TYPE = "text/uri-list"
"""The ``image_type`` of a request whose ``image`` is the URL of its start frame."""

ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
MODERATION_WORDS = (
    "moderat",
    "not allowed",
    "safety",
    "policy",
    "nsfw",
    "inappropriate",
    "prohibited",
)


@dataclass(frozen=True, slots=True)
class LumaModel:
    id: str
    label: str
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    """Empty: the model takes no ``duration`` or ``resolution`` (it makes one kind of clip)."""
    quality: str
    usd_per_second_540p: Decimal | None


MODELS: dict[str, LumaModel] = {
    model.id: model
    for model in (
        LumaModel(
            "ray-2",
            "Luma Ray 2",
            (5, 9),
            ("540p", "720p", "1080p", "4k"),
            "high",
            Decimal("0.10"),
        ),
        LumaModel(
            "ray-flash-2",
            "Luma Ray Flash 2",
            (5, 9),
            ("540p", "720p", "1080p", "4k"),
            "fast",
            Decimal("0.04"),
        ),
        LumaModel("ray-1-6", "Luma Ray 1.6", (5,), (), "standard", None),
    )
}
"""Ray 2 and Ray Flash 2 take ``duration`` ``5s``/``9s`` and ``resolution`` 540p to 4k; Ray 1.6
predates both parameters and makes 5 s clips."""

RESOLUTION_FACTORS = {"540p": Decimal(1), "720p": Decimal(2), "1080p": Decimal(4)}


def price_per_second(model: str, resolution: str = DEFAULT_RESOLUTION) -> Decimal | None:
    """An *estimate* of USD per output second, from the resale prices of Ray 2 ($0.50 per 5 s at
    540p) and Ray Flash 2 ($0.20 per 5 s), twice that at 720p and four times at 1080p; Luma's own
    per-second table is not published. None where no figure is known (4k, Ray 1.6)."""
    spec = MODELS.get(model)
    factor = RESOLUTION_FACTORS.get(resolution)
    if spec is None or spec.usd_per_second_540p is None or factor is None:
        return None
    return spec.usd_per_second_540p * factor


def generation_body(
    model: LumaModel, request: VideoRequest, resolution: str, image_url: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model.id,
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
    }
    if model.resolutions:
        body["duration"] = f"{int(request.duration_seconds)}s"
        body["resolution"] = resolution
    if image_url:
        body["keyframes"] = {"frame0": {"type": "image", "url": image_url}}
    return body


def failure_kind(reason: str, code: str) -> tuple[VideoErrorKind, bool]:
    """The kind of a failed generation and whether another attempt may succeed."""
    if code == "content_moderated" or any(w in reason.lower() for w in MODERATION_WORDS):
        return VideoErrorKind.CONTENT_FILTER, False
    if code in ("invalid_request", "image_too_large", "unsupported_format", "corrupt_input"):
        return VideoErrorKind.BAD_REQUEST, False
    if code == "budget_exhausted":
        return VideoErrorKind.QUOTA, False
    return VideoErrorKind.UNAVAILABLE, True


def parse_generation(generation: Mapping[str, Any]) -> PollResult:
    """One ``GET /generations/{id}`` answer as pending, done or failed (unknown fields ignored)."""
    state = str(generation.get("state") or "").lower()
    assets = generation.get("assets")
    assets = assets if isinstance(assets, dict) else {}
    if state == "completed":
        video = assets.get("video")
        if not isinstance(video, str) or not video:
            return Failed(
                "Luma reported the generation completed without a video",
                kind=VideoErrorKind.UNAVAILABLE,
                retryable=True,
            )
        image = assets.get("image")
        return Done(
            url=video,
            content_type="video/mp4",
            thumbnail_url=image if isinstance(image, str) else "",
            details={"generation_id": generation.get("id"), "model": generation.get("model")},
        )
    if state == "failed":
        reason = short(str(generation.get("failure_reason") or "the generation failed"))
        code = str(generation.get("failure_code") or "")
        kind, retryable = failure_kind(reason, code)
        return Failed(reason, code=code, kind=kind, retryable=retryable)
    return Pending(state=state or "unknown")


def detail_message(body: bytes, status: int) -> str:
    """Luma's ``{"detail": "…"}`` (or a validation list of ``{"loc", "msg"}``) as one line."""
    try:
        payload = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        payload = None
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc") or () if p != "body")
                text = str(item.get("msg") or item)
                parts.append(f"{where}: {text}" if where else text)
            else:
                parts.append(str(item))
        detail = "; ".join(parts)
    if detail:
        return short(str(detail))
    return short(body.decode("utf-8", "replace")) or f"HTTP {status}"


class LumaProvider(VideoProvider):
    name = "luma"
    label = "Luma Dream Machine"
    how_to_configure = (
        "Set LUMA_API_KEY (and optionally LUMA_BASE_URL), "
        "or enter a Luma key in the admin under Provider credentials."
    )

    @property
    def base_url(self) -> str:
        return str(self.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    @property
    def default_model(self) -> str:
        return str(self.options.get("model") or DEFAULT_MODEL)

    @property
    def resolution(self) -> str:
        return str(self.options.get("resolution") or DEFAULT_RESOLUTION)

    def is_configured(self) -> bool:
        return bool(self.options.get("api_key"))

    def models(self) -> tuple[ModelSpec, ...]:
        default = MODELS.get(self.default_model, MODELS[DEFAULT_MODEL])
        specs = [self._spec("luma", default)]
        specs.extend(self._spec(f"luma-{model.id}", model) for model in MODELS.values())
        return tuple(specs)

    @staticmethod
    def _spec(name: str, model: LumaModel) -> ModelSpec:
        return ModelSpec(
            name=name,
            label=model.label,
            provider_model=model.id,
            max_duration_seconds=float(max(model.durations)),
            durations=tuple(float(d) for d in model.durations),
            ratios=ASPECT_RATIOS,
            image_to_video=False,
            text_to_video=True,
            quality=model.quality,
        )

    def key_check_url(self) -> str:
        return f"{self.base_url}/credits"

    def headers(self) -> dict[str, str]:
        return {
            "authorization": f"Bearer {self.options.get('api_key', '')}",
            "accept": "application/json",
        }

    def resolve_model(self, asked: str) -> LumaModel:
        wanted = asked or self.default_model
        if wanted == "luma":
            wanted = self.default_model
        wanted = wanted.removeprefix("luma-")
        model = MODELS.get(wanted)
        if model is None:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"Luma has no model {wanted!r} here; it serves {', '.join(MODELS)}",
            )
        return model

    def validate(self, request: VideoRequest) -> tuple[LumaModel, str]:
        """The model and the start frame's URL for ``request``, or a ``bad_request`` naming what
        the model accepts (nothing is sent)."""
        model = self.resolve_model(request.model)
        if request.aspect_ratio not in ASPECT_RATIOS:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"Luma {model.id} does not make {request.aspect_ratio!r}; it takes "
                f"{', '.join(ASPECT_RATIOS)}",
            )
        seconds = request.duration_seconds
        if seconds != int(seconds) or int(seconds) not in model.durations:
            takes = " or ".join(f"{d} s" for d in model.durations)
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"Luma {model.id} does not make {seconds:g} s clips; it makes {takes} clips",
            )
        if model.resolutions and self.resolution not in model.resolutions:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"Luma {model.id} does not render at {self.resolution!r}; it takes "
                f"{', '.join(model.resolutions)}",
            )
        if not request.prompt.strip():
            raise self.error(VideoErrorKind.BAD_REQUEST, "Luma needs a prompt")
        image_url = ""
        if request.image is not None:
            if request.image_type != URL_IMAGE_TYPE:
                raise self.error(
                    VideoErrorKind.BAD_REQUEST,
                    "Luma takes the start frame as an image URL only (it cannot take image "
                    "data or a data URI); host the image and pass its https URL",
                )
            image_url = request.image.decode("utf-8", "replace").strip()
            if not image_url.startswith(("https://", "http://")):
                raise self.error(
                    VideoErrorKind.BAD_REQUEST,
                    f"Luma takes the start frame as an http(s) URL, not {short(image_url, 60)!r}",
                )
        return model, image_url

    async def submit(self, request: VideoRequest) -> dict[str, Any]:
        model, image_url = self.validate(request)
        body = generation_body(model, request, self.resolution, image_url)
        response = await self._send("POST", "/generations/video", body=body)
        if response.status_code >= 300:
            raise self.http_error(response)
        generation_id = self.json_object(response).get("id")
        if not isinstance(generation_id, str) or not generation_id:
            raise self.error(
                VideoErrorKind.UNAVAILABLE,
                "Luma accepted the generation without giving its id",
                status_code=response.status_code,
            )
        operation: dict[str, Any] = {"generation_id": generation_id, "model": model.id}
        if model.resolutions:
            operation.update(duration=int(request.duration_seconds), resolution=self.resolution)
        return operation

    async def poll(self, operation: dict[str, Any]) -> PollResult:
        generation_id = self.generation_id(operation)
        response = await self._send("GET", f"/generations/{generation_id}")
        if response.status_code == 404:
            return Failed(
                "the generation no longer exists (Luma deletes a generation when it is cancelled)",
                code="not_found",
                cancelled=True,
            )
        if response.status_code >= 300:
            raise self.http_error(response)
        return parse_generation(self.json_object(response))

    async def cancel(self, operation: dict[str, Any]) -> None:
        generation_id = self.generation_id(operation)
        response = await self._send("DELETE", f"/generations/{generation_id}")
        if response.status_code == 404 or response.status_code < 300:
            return
        raise self.http_error(response)

    async def _send(self, method: str, path: str, *, body: Any = None) -> httpx.Response:
        return await send(
            self, method, self.base_url + path, json=body, headers=self.headers(), what="Luma"
        )

    def generation_id(self, operation: Mapping[str, Any]) -> str:
        generation_id = operation.get("generation_id")
        if not isinstance(generation_id, str) or not generation_id or "/" in generation_id:
            raise self.error(VideoErrorKind.BAD_REQUEST, f"not a Luma operation: {operation!r}")
        return generation_id

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        return json_object(self, response, what="Luma")

    def http_error(self, response: httpx.Response) -> VideoError:
        message = detail_message(response.content, response.status_code)
        return http_error(
            self, response, message, quota_phrases=("insufficient credit", "not enough credit")
        )
