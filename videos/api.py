"""Video routes of the API (../shared/API.md §3 "Videos"): the catalogue, start a job, read one,
list a project's jobs, cancel one. A job's events come through its run
(``GET /api/v1/runs/{run_id}/events``)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any, Literal

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field, StringConstraints

from aura_site.api_errors import correlation_id, errors
from aura_site.api_types import Id, Money, PathId
from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from generation.runs import launch
from generation.runs.api import QuoteOut, quote_out, start_prepared
from generation.runs.models import Run
from generation.runs.services import run_cancel, run_wait_ended
from videos import selectors
from videos.catalogue import video_models
from videos.models import VideoJob
from videos.services import (
    NEGATIVE_MAX,
    PROMPT_MAX,
    PROMPT_MIN,
    SEED_MAX,
    SHOT_NUMBER_MAX,
    JobDraft,
    job_create_for,
    job_prepare,
)

router = Router(tags=["videos"])


class ShotRef(Schema):
    model_config = ConfigDict(extra="forbid")

    roundtable: Id
    number: int = Field(ge=1, le=SHOT_NUMBER_MAX)


class VideoJobRequest(Schema):
    """A video job (API.md §3 "Videos"). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    project: Id
    prompt: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=PROMPT_MIN, max_length=PROMPT_MAX)
    ]
    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    duration_seconds: float | None = Field(None, ge=1, allow_inf_nan=False)
    aspect_ratio: Literal["16:9", "9:16", "1:1"] = "16:9"
    negative_prompt: Annotated[str, StringConstraints(max_length=NEGATIVE_MAX)] = ""
    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    image: str | None = Field(None, max_length=8 * 1024 * 1024)
    shot: ShotRef | None = None


class PriceOut(Schema):
    unit: str
    amount: str


class VideoModelOut(Schema):
    name: str
    label: str
    category: str
    provider: str
    quality: str
    max_duration_seconds: float
    durations: list[float]
    ratios: list[str]
    image_to_video: bool
    text_to_video: bool
    price: PriceOut
    price_known: bool
    configured: bool
    how_to_configure: str


class AttemptOut(Schema):
    number: int
    provider: str
    model: str
    outcome: str
    reason: str
    code: str
    cost: Money
    progress: int | None
    started_at: datetime | None
    finished_at: datetime | None


class ErrorOut(Schema):
    code: str
    message: str


class VideoJobOut(Schema):
    id: int
    project: int
    run_id: str | None
    status: str
    progress: int | None
    model: str
    prompt: str
    negative_prompt: str
    duration_seconds: float
    aspect_ratio: str
    seed: int | None
    shot: dict[str, Any] | None
    attempts: list[AttemptOut]
    video_url: str | None
    download_url: str | None
    thumbnail_url: str | None
    metadata: dict[str, Any]
    provider: str
    expected_cost: Money
    cost: Money
    error: ErrorOut | None
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None


def _caller(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def job_out(job: VideoJob, request: HttpRequest | None = None) -> dict[str, Any]:
    attempts = []
    for part in selectors.job_attempts(job):
        attempts.append(
            {
                "number": int(part.result.get("attempt") or part.position + 1),
                "provider": part.provider,
                "model": part.model,
                "outcome": part.status,
                "reason": part.error_message,
                "code": part.error_code,
                "cost": part.cost,
                "progress": part.progress,
                "started_at": part.started_at,
                "finished_at": part.finished_at,
            }
        )

    def absolute(path: str) -> str | None:
        if not path:
            return None
        return request.build_absolute_uri(path) if request is not None else path

    return {
        "id": job.pk,
        "project": job.project_id,
        "run_id": str(job.run_id) if job.run_id else None,
        "status": job.status,
        "progress": job.progress,
        "model": job.model,
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "duration_seconds": float(job.duration_seconds),
        "aspect_ratio": job.aspect_ratio,
        "seed": job.seed,
        "shot": job.shot or None,
        "attempts": attempts,
        "video_url": absolute(job.video_url),
        "download_url": absolute(job.download_url),
        "thumbnail_url": absolute(job.thumbnail_url),
        "metadata": job.metadata,
        "provider": job.provider,
        "expected_cost": job.expected_cost,
        "cost": job.cost,
        "error": (
            {"code": job.error_code, "message": job.error_message} if job.error_code else None
        ),
        "created_by": job.created_by.get_username() if job.created_by else None,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


@router.get(
    "/video-models", response={200: list[VideoModelOut], **errors()}, summary="Every video model"
)
async def video_model_list(request: HttpRequest) -> Any:
    models = await sync_to_async(video_models)()
    return [model.as_dict() for model in models]


def _prepare(request: HttpRequest, body: VideoJobRequest) -> JobDraft:
    user = _caller(request)
    data = body.model_dump()
    project, _ = project_for_user(user, data["project"], minimum=Role.EDITOR)
    return job_prepare(user, project, data, correlation_id=correlation_id(request))


@router.post(
    "/videos/quote",
    response={200: QuoteOut, **errors(403, 404)},
    summary="What a video job would cost",
)
async def video_quote(request: HttpRequest, body: VideoJobRequest) -> Any:
    return quote_out((await sync_to_async(_prepare)(request, body)).draft)


async def _start(request: HttpRequest, body: VideoJobRequest) -> Run:
    return await start_prepared(functools.partial(_prepare, request, body), job_create_for)


def _job_by_run(run: Run, request: HttpRequest) -> dict[str, Any]:
    job = VideoJob.objects.select_related("created_by").get(run=run)
    return job_out(job, request)


@router.post(
    "/videos",
    response={202: VideoJobOut, **errors(403, 404, 429)},
    summary="Start a video job",
)
async def video_start(request: HttpRequest, body: VideoJobRequest) -> Any:
    run = await _start(request, body)
    return Status(202, await sync_to_async(_job_by_run)(run, request))


def _job(user: Any, job_id: int, request: HttpRequest) -> dict[str, Any]:
    job, _ = selectors.job_get_any_project(user, job_id)
    return job_out(job, request)


@router.get("/videos/{job_id}", response={200: VideoJobOut, **errors(404)}, summary="A video job")
async def video_detail(request: HttpRequest, job_id: PathId) -> Any:
    return await sync_to_async(_job)(_caller(request), job_id, request)


def _jobs(user: Any, project_id: int, request: HttpRequest) -> list[dict[str, Any]]:
    _, _, jobs = selectors.jobs_for_project(user, project_id)
    return [job_out(job, request) for job in jobs[:100]]


@router.get(
    "/projects/{project_id}/videos",
    response={200: list[VideoJobOut], **errors(404)},
    summary="A project's video jobs, newest first",
)
async def video_list(request: HttpRequest, project_id: PathId) -> Any:
    return await sync_to_async(_jobs)(_caller(request), project_id, request)


@router.post(
    "/videos/{job_id}/cancel",
    response={200: VideoJobOut, **errors(403, 404)},
    summary="Cancel a video job (the provider's own cancel is called); idempotent",
)
async def video_cancel(request: HttpRequest, job_id: PathId) -> Any:
    launch.note_loop()
    user = _caller(request)
    job, _ = await sync_to_async(selectors.job_get_any_project)(user, job_id, Role.EDITOR)
    if job.run_id is not None:
        run = await run_cancel(user, job.run_id)
        if run.is_active:
            await run_wait_ended(run.pk, 5)
    return await sync_to_async(_job)(user, job_id, request)
