"""Pages of videos: a project's clips with the form that makes one (the model picker and the
expected cost before Start), a job live or afterwards, and the clip and thumbnail files, served
to the project's members only, with range requests so the player can seek."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from werkzeug.http import parse_range_header

from aura_site.accounts.auth import auser_from_request
from aura_site.http import HtmxHttpRequest, redirect_to
from aura_site.projects.models import Membership, Project, Role
from aura_site.projects.selectors import project_for_user
from generation.health.selectors import health_by_alias
from generation.runs.selectors import panel_context, run_snapshot
from generation.runs.services import RunLimitExceeded
from videos import selectors
from videos.catalogue import VideoModel, models_by_category, video_models
from videos.coordinator import Plan
from videos.forms import VideoJobForm
from videos.models import VideoJob
from videos.services import job_input_clean, job_plan, job_prepare, job_start, plan_ceiling
from videos.storage import videos_storage

CHUNK = 256 * 1024


def _models() -> list[VideoModel]:
    return video_models()


def _form(models: list[VideoModel], data: Any = None, files: Any = None, **kw: Any) -> VideoJobForm:
    return VideoJobForm(data, files, models=models, **kw)


def _prefill(request: HttpRequest) -> dict[str, Any]:
    """A form filled from the address: a roundtable shot or a script section."""
    initial: dict[str, Any] = {}
    if request.GET.get("prompt"):
        initial["prompt"] = request.GET["prompt"][:2000]
    if request.GET.get("duration_seconds"):
        with contextlib.suppress(ArithmeticError):
            initial["duration_seconds"] = Decimal(request.GET["duration_seconds"][:8])
    if request.GET.get("model"):
        initial["model"] = request.GET["model"][:60]
    if request.GET.get("aspect_ratio") in ("16:9", "9:16", "1:1"):
        initial["aspect_ratio"] = request.GET["aspect_ratio"]
    for field in ("shot_roundtable", "shot_number"):
        if request.GET.get(field, "").isdigit():
            initial[field] = int(request.GET[field])
    return initial


def _context(
    project: Project,
    membership: Membership,
    form: VideoJobForm,
    models: list[VideoModel],
    **extra: Any,
) -> dict[str, Any]:
    chosen = form["model"].value()
    return {
        "project": project,
        "membership": membership,
        "can_edit": membership.can(Role.EDITOR),
        "form": form,
        "groups": models_by_category(models),
        "chosen": chosen,
        "configured_count": sum(1 for m in models if m.configured),
        "health_states": health_by_alias("video"),
        **extra,
    }


def _jobs_page(project: Project, request: HttpRequest) -> Any:
    return Paginator(selectors.jobs_of(project), 20).get_page(request.GET.get("page"))


@require_http_methods(["GET", "POST"])
def job_list(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The project's clips, newest first, and (for editors) the form that makes one."""
    project, membership = project_for_user(request.user, project_id)
    models = _models()
    if request.method != "POST":
        form = _form(models, initial=_prefill(request))
        quote = _quote_of(project, form, models, initial=True)
        context = _context(project, membership, form, models, quote=quote)
        context["page"] = _jobs_page(project, request)
        return render(request, "videos/list.html", context)
    if not membership.can(Role.EDITOR):
        raise PermissionDenied("Making clips needs the editor role in the project.")
    form = _form(models, request.POST, request.FILES)
    if form.is_valid():
        try:
            with transaction.atomic():
                prepared = job_prepare(request.user, project, form.request_body())
                run = job_start(prepared)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field == "shot":
                    field = None  # type: ignore[assignment]
                form.add_error(field if field in form.fields else None, messages)
        except RunLimitExceeded as exc:
            form.add_error(None, f"{exc.message} (try again in about {exc.retry_after} s)")
        else:
            return redirect_to(request, "videos:detail", project.pk, run.input["job_id"])
    context = _context(project, membership, form, models, quote=_quote_of(project, form, models))
    if request.htmx:
        return render(request, "videos/list.html#job_form", context)
    context["page"] = _jobs_page(project, request)
    return render(request, "videos/list.html", context, status=400)


def _quote_of(
    project: Project, form: VideoJobForm, models: list[VideoModel], *, initial: bool = False
) -> dict[str, Any]:
    """What Start would do: the expected cost at the first model tried, the models after it,
    and the ones left out (with what to configure), or why it cannot start."""
    if initial:
        data = {
            "prompt": "a clip",
            "model": form["model"].value(),
            "duration_seconds": form["duration_seconds"].value(),
            "aspect_ratio": form["aspect_ratio"].value(),
        }
    else:
        data = {name: form.data.get(name) for name in ("model", "duration_seconds")}
        data["prompt"] = "a clip"
        data["aspect_ratio"] = form.data.get("aspect_ratio") or "16:9"
        if form.files.get("image"):
            data["image"] = "data:image/png;base64,iVBORw0KGgo="
    try:
        cleaned = job_input_clean(project, data, models)
    except ValidationError as exc:
        problems = {
            field: " ".join(messages)
            for field, messages in exc.message_dict.items()
            if field in ("model", "duration_seconds", "aspect_ratio")
        }
        return {"problem": " ".join(problems.values())} if problems else {}
    plan: Plan = job_plan(cleaned)
    first = plan.candidates[0] if plan.candidates else None
    return {
        "plan": plan,
        "first": first,
        "later": plan.candidates[1:],
        "expected": Decimal(first.expected_cost) if first else None,
        "ceiling": plan_ceiling(plan) if first else None,
        "duration": first.duration_seconds if first else None,
    }


@require_POST
def job_quote(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The expected cost and the route of the job the form describes (as the person chooses)."""
    project, _ = project_for_user(request.user, project_id, minimum=Role.EDITOR)
    models = _models()
    form = _form(models, request.POST, request.FILES)
    return render(request, "videos/list.html#quote", {"quote": _quote_of(project, form, models)})


@require_GET
def job_list_fragment(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = project_for_user(request.user, project_id)
    return render(
        request,
        "videos/list.html#jobs",
        {
            "project": project,
            "page": _jobs_page(project, request),
            "can_edit": membership.can(Role.EDITOR),
        },
    )


@require_GET
def job_detail(request: HtmxHttpRequest, project_id: int, job_id: int) -> HttpResponse:
    job, membership = selectors.job_get(request.user, project_id, job_id)
    context: dict[str, Any] = {
        "project": job.project,
        "membership": membership,
        "job": job,
        "can_edit": membership.can(Role.EDITOR),
    }
    if job.run_id is not None:
        snapshot = run_snapshot(job.run_id)
        context["panel"] = panel_context(snapshot, can_edit=membership.can(Role.EDITOR))
    return render(request, "videos/detail.html", context)


# ---- media -------------------------------------------------------------------------------


def _media_job(user: Any, project_id: int, job_id: int) -> VideoJob:
    job, _ = selectors.job_get(user, project_id, job_id)
    return job


async def _authorised_job(request: HttpRequest, project_id: int, job_id: int) -> VideoJob:
    user = await auser_from_request(request)
    if user is None:
        raise Http404("No such video job.")
    return await sync_to_async(_media_job)(user, project_id, job_id)


async def _file_chunks(name: str, start: int, length: int) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(videos_storage().open, name, "rb")
    try:
        await asyncio.to_thread(handle.seek, start)
        left = length
        while left > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def _serve(
    request: HttpRequest, name: str, *, download_name: str = ""
) -> HttpResponse | StreamingHttpResponse:
    storage = videos_storage()
    try:
        size = await asyncio.to_thread(storage.size, name)
    except (FileNotFoundError, OSError):
        raise Http404("The file is gone.") from None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    start, length, status = 0, size, 200
    header = request.headers.get("Range")
    if header:
        ranges = parse_range_header(header)
        bounds = ranges.range_for_length(size) if ranges is not None else None
        if ranges is None or bounds is None or len(ranges.ranges) != 1:
            refused = HttpResponse(status=416)
            refused["Content-Range"] = f"bytes */{size}"
            return refused
        start, stop = bounds
        length, status = stop - start, 206
    response: HttpResponse | StreamingHttpResponse
    if request.method == "HEAD":
        response = HttpResponse(status=status, content_type=content_type)
    else:
        response = StreamingHttpResponse(
            _file_chunks(name, start, length), status=status, content_type=content_type
        )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    if download_name:
        response["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response


@login_not_required
@require_http_methods(["GET", "HEAD"])
async def job_clip(
    request: HttpRequest, project_id: int, job_id: int
) -> HttpResponse | StreamingHttpResponse:
    """The clip, for members of its project (session or bearer token); ``?download=1`` saves it."""
    job = await _authorised_job(request, project_id, job_id)
    if not job.video:
        raise Http404("This job has no clip.")
    download = ""
    if request.GET.get("download"):
        extension = job.video.rsplit(".", 1)[-1]
        download = f"aura-clip-{job.project_id}-{job.pk}.{extension}"
    return await _serve(request, job.video, download_name=download)


@login_not_required
@require_http_methods(["GET", "HEAD"])
async def job_thumbnail(
    request: HttpRequest, project_id: int, job_id: int
) -> HttpResponse | StreamingHttpResponse:
    job = await _authorised_job(request, project_id, job_id)
    if not job.thumbnail:
        raise Http404("This job has no thumbnail.")
    return await _serve(request, job.thumbnail)
