"""The studio's own JSON job server at ``NEURA_AI_SERVER`` (the README, "The custom video server").

- Submit: ``POST /api/v1/video/generate`` with ``X-Neura-API-Key`` and ``{"prompt", "duration",
  "aspect_ratio", "model", "idempotency_key", ...}`` → ``202 {"task_id", "status": "queued"}``
  (the seed's servers answer ``200 {"status": "processing", "task_id"}``). The same
  ``idempotency_key`` gives back the same task, so a submit tried again after a lost answer does
  not start a second render.
- Poll: ``GET /api/v1/task/{task_id}`` → ``status`` ``queued`` | ``processing`` (``progress`` 0..1)
  | ``completed`` (``result_url``, the MP4; ``thumbnail_url``, ``cost_usd``, ``duration``,
  ``width``, ``height``, ``fps`` where the server knows them) | ``failed`` (``error``: ``code``,
  ``message``, ``retryable``) | ``cancelled``. A task the server does not know answers 404: it
  lost the job (a restart), and another attempt may succeed.
- Cancel: ``DELETE /api/v1/task/{task_id}`` → ``202 {"status": "cancelled"}`` (idempotent); 409
  when the task already completed, which leaves nothing to cancel.
- Health: ``GET /api/v1/health`` → ``{"version", "models": [...]}``.
- Errors: ``{"error": {"code", "message"}}`` with a fitting status; 429 and 503 with
  ``Retry-After``.

The server has no default address: the studio itself serves on ``127.0.0.1:8000``, the seed's
default, so it is configured once ``NEURA_AI_SERVER`` is set; ``NEURA_API_KEY`` is sent when set.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from generation.providers.transport import parse_retry_after, short
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
from videos.providers.wire import json_object, send

DEFAULT_MODEL = "neura-video-v1"
DEFAULT_MAX_DURATION_SECONDS = 10.0
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
IMAGE_TYPES = ("image/png", "image/jpeg")
URL_IMAGE_TYPE = "text/uri-list"
"""The ``image_type`` of a request whose ``image`` is the URL of its start frame."""

ERROR_KINDS = {
    "content_filter": VideoErrorKind.CONTENT_FILTER,
    "bad_request": VideoErrorKind.BAD_REQUEST,
    "auth": VideoErrorKind.AUTH,
    "quota": VideoErrorKind.QUOTA,
    "rate_limit": VideoErrorKind.RATE_LIMIT,
    "overloaded": VideoErrorKind.UNAVAILABLE,
    "internal": VideoErrorKind.UNAVAILABLE,
    "unavailable": VideoErrorKind.UNAVAILABLE,
    "timeout": VideoErrorKind.TIMEOUT,
}
NEVER_RETRYABLE = frozenset(
    {
        VideoErrorKind.CONTENT_FILTER,
        VideoErrorKind.BAD_REQUEST,
        VideoErrorKind.AUTH,
        VideoErrorKind.QUOTA,
    }
)


def media_type(image: bytes, declared: str) -> str:
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
    return "application/octet-stream"


def job_body(request: VideoRequest, model: str, image: str, fps: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "duration": request.duration_seconds,
        "aspect_ratio": request.aspect_ratio,
        "model": model,
    }
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        body["seed"] = request.seed
    if image:
        body["image"] = image
    if fps:
        body["fps"] = fps
    if request.idempotency_key:
        body["idempotency_key"] = request.idempotency_key
    return body


def error_kind(code: str, fallback: VideoErrorKind) -> VideoErrorKind:
    return ERROR_KINDS.get(code, fallback)


def parse_task(task: Mapping[str, Any]) -> PollResult:
    """One ``GET /api/v1/task/{id}`` answer as pending, done or failed; optional fields may be
    missing (the seed's servers send ``status`` and ``result_url`` only)."""
    status = str(task.get("status") or "").lower()
    if status == "completed":
        url = task.get("result_url")
        if not isinstance(url, str) or not url:
            return Failed(
                "the server reported the task completed without a result_url",
                kind=VideoErrorKind.UNAVAILABLE,
                retryable=True,
            )
        thumbnail = task.get("thumbnail_url")
        details = {key: task[key] for key in ("duration", "width", "height", "fps") if key in task}
        return Done(
            url=url,
            content_type="video/mp4",
            thumbnail_url=thumbnail if isinstance(thumbnail, str) else "",
            cost_usd=_decimal_string(task.get("cost_usd")),
            details=details,
        )
    if status == "failed":
        error = task.get("error")
        if not isinstance(error, dict):
            error = {"message": str(error)} if error else {}
        code = str(error.get("code") or "")
        kind = error_kind(code, VideoErrorKind.UNAVAILABLE)
        said = error.get("retryable")
        retryable = kind not in NEVER_RETRYABLE if not isinstance(said, bool) else said
        if kind == VideoErrorKind.CONTENT_FILTER:
            retryable = False
        reason = short(str(error.get("message") or "the task failed"))
        return Failed(reason, code=code, kind=kind, retryable=retryable)
    if status in ("cancelled", "canceled"):
        return Failed("the task was cancelled", code=status, cancelled=True)
    return Pending(progress=_percent(task.get("progress")), state=status or "unknown")


def _percent(value: Any) -> float | None:
    """``progress`` is 0..1 by the contract; a server that counts to 100 is read as percent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    percent = number * 100.0 if number <= 1.0 else number
    return min(max(percent, 0.0), 100.0)


def _decimal_string(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return ""
    return str(amount) if amount.is_finite() and amount >= 0 else ""


def error_parts(body: bytes, status: int) -> tuple[str, str]:
    """The ``code`` and ``message`` of ``{"error": {"code", "message"}}`` (also a bare string
    ``error`` or ``detail``)."""
    try:
        payload = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or ""), short(str(error.get("message") or status))
        text = error or payload.get("detail") or payload.get("message")
        if text:
            return "", short(str(text))
    return "", short(body.decode("utf-8", "replace")) or f"HTTP {status}"


class NeuraProvider(VideoProvider):
    name = "neura"
    label = "Custom video server"
    how_to_configure = (
        "Set NEURA_AI_SERVER to the custom video server's URL (and NEURA_API_KEY when it asks "
        "for a key), or enter them in the admin under Provider credentials."
    )

    @property
    def model(self) -> str:
        return str(self.options.get("model") or DEFAULT_MODEL)

    @property
    def max_duration(self) -> float:
        return float(self.options.get("max_duration_seconds") or DEFAULT_MAX_DURATION_SECONDS)

    def is_configured(self) -> bool:
        return bool(self.base_url)

    def models(self) -> tuple[ModelSpec, ...]:
        return (
            ModelSpec(
                name="neura",
                label=str(self.options.get("label") or "Custom video server"),
                provider_model=self.model,
                max_duration_seconds=self.max_duration,
                ratios=ASPECT_RATIOS,
                image_to_video=True,
                text_to_video=True,
                quality=str(self.options.get("quality") or "custom"),
            ),
        )

    def key_check_url(self) -> str:
        return f"{self.base_url}/api/v1/health" if self.base_url else ""

    def headers(self) -> dict[str, str]:
        headers = {"accept": "application/json"}
        key = str(self.options.get("api_key") or "")
        if key:
            headers["x-neura-api-key"] = key
        return headers

    def validate(self, request: VideoRequest) -> str:
        """The image to send (a data URI, a URL or nothing), or a ``bad_request`` naming what the
        server accepts (nothing is sent)."""
        if not self.base_url:
            raise self.error(VideoErrorKind.BAD_REQUEST, f"not configured: {self.how_to_configure}")
        if not request.prompt.strip():
            raise self.error(VideoErrorKind.BAD_REQUEST, "the custom server needs a prompt")
        if request.aspect_ratio not in ASPECT_RATIOS:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"the custom server does not make {request.aspect_ratio!r}; it takes "
                f"{', '.join(ASPECT_RATIOS)}",
            )
        if not 0 < request.duration_seconds <= self.max_duration:
            raise self.error(
                VideoErrorKind.BAD_REQUEST,
                f"the custom server makes clips of up to {self.max_duration:g} s, "
                f"not {request.duration_seconds:g} s",
            )
        if request.image is None:
            return ""
        if request.image_type == URL_IMAGE_TYPE:
            url = request.image.decode("utf-8", "replace").strip()
            if not url.startswith(("https://", "http://")):
                raise self.error(
                    VideoErrorKind.BAD_REQUEST, f"not an image URL: {short(url, 60)!r}"
                )
            return url
        kind = media_type(request.image, request.image_type)
        if kind not in IMAGE_TYPES:
            raise self.error(
                VideoErrorKind.BAD_REQUEST, f"the custom server takes PNG or JPEG, not {kind}"
            )
        return f"data:{kind};base64,{base64.b64encode(request.image).decode('ascii')}"

    async def submit(self, request: VideoRequest) -> dict[str, Any]:
        image = self.validate(request)
        model = request.model if request.model not in ("", "neura") else self.model
        fps = self.options.get("fps")
        body = job_body(request, model, image, int(fps) if fps else None)
        response = await self._send("POST", "/api/v1/video/generate", body=body)
        if response.status_code >= 300:
            raise self.http_error(response)
        task_id = self.json_object(response).get("task_id")
        if not isinstance(task_id, str | int) or isinstance(task_id, bool) or task_id == "":
            raise self.error(
                VideoErrorKind.UNAVAILABLE,
                "the custom server accepted the job without giving its task_id",
                status_code=response.status_code,
            )
        operation: dict[str, Any] = {"task_id": str(task_id), "model": model}
        if request.idempotency_key:
            operation["idempotency_key"] = request.idempotency_key
        return operation

    async def poll(self, operation: dict[str, Any]) -> PollResult:
        task_id = self.task_id(operation)
        response = await self._send("GET", f"/api/v1/task/{task_id}")
        if response.status_code == 404:
            return Failed(
                f"the custom server has no task {task_id} (it may have restarted)",
                code="not_found",
                kind=VideoErrorKind.UNAVAILABLE,
                retryable=True,
            )
        if response.status_code >= 300:
            raise self.http_error(response)
        return parse_task(self.json_object(response))

    async def cancel(self, operation: dict[str, Any]) -> None:
        task_id = self.task_id(operation)
        response = await self._send("DELETE", f"/api/v1/task/{task_id}")
        if response.status_code < 300 or response.status_code in (404, 409):
            return
        raise self.http_error(response)

    async def health(self) -> bool:
        """Whether the server answers its health check (never raises)."""
        if not self.base_url:
            return False
        try:
            response = await self._send("GET", "/api/v1/health")
        except VideoError:
            return False
        if response.status_code != 200:
            return False
        try:
            return isinstance(response.json(), dict)
        except ValueError:
            return False

    async def _send(self, method: str, path: str, *, body: Any = None) -> httpx.Response:
        return await send(
            self,
            method,
            self.base_url + path,
            json=body,
            headers=self.headers(),
            what="the custom video server",
        )

    def task_id(self, operation: Mapping[str, Any]) -> str:
        task_id = operation.get("task_id")
        if not isinstance(task_id, str) or not task_id or "/" in task_id:
            raise self.error(
                VideoErrorKind.BAD_REQUEST, f"not a custom-server operation: {operation!r}"
            )
        return task_id

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        return json_object(self, response, what="the custom video server")

    def http_error(self, response: httpx.Response) -> VideoError:
        status = response.status_code
        code, message = error_parts(response.content, status)
        retry_after = None
        if status in (401, 403):
            kind = VideoErrorKind.AUTH
        elif status == 402:
            kind = VideoErrorKind.QUOTA
        elif status == 429:
            kind = VideoErrorKind.RATE_LIMIT
            retry_after = parse_retry_after(response.headers)
        elif status == 408:
            kind = VideoErrorKind.TIMEOUT
        elif status >= 500:
            kind = error_kind(code, VideoErrorKind.UNAVAILABLE)
            if kind in NEVER_RETRYABLE:
                kind = VideoErrorKind.UNAVAILABLE
            retry_after = parse_retry_after(response.headers)
        else:
            kind = error_kind(code, VideoErrorKind.BAD_REQUEST)
            if kind not in NEVER_RETRYABLE:
                kind = VideoErrorKind.BAD_REQUEST
        return self.error(
            kind, f"HTTP {status}: {message}", retry_after=retry_after, status_code=status
        )
