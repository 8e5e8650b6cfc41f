"""The ``video`` run kind: a job as short steps over the coordinator's candidates.

The run's input holds the request and the candidates (``videos.coordinator.plan``); the run's
``state`` which candidate is next and where the current attempt stands. Each attempt is a part
(``attempt-1``, ``attempt-2``, ...) with its provider, model, the provider's operation (stored
with the step that submitted it, so a redelivered or repeated step never submits again),
progress, cost and why it ended. A step does one of:

- start an attempt on the next candidate (``attempt_start``), check the budgets, and submit; a
  submit that fails for a passing reason (rate limit, network, unavailable) is tried again a
  few times, honouring the provider's retry-after, before the attempt gives up;
- poll the attempt once; while it waits the next poll comes after a backoff (``progress`` events
  only when the percent or the provider's word changes);
- when the provider is done: fetch the result through the checked fetch, check that it is a real
  moving video (``videos.media``), store it with its thumbnail and finish the job (``done``);
- when an attempt fails (the provider's failure, a result that is not a real video, a download
  refused, the attempt's time limit): ``attempt_failed``, its cost record, and the next
  candidate (``provider_switch``), or, when none is left, the job's ``error`` naming what to
  configure.

A cancel calls the provider's own cancel for the attempt in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import weakref
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings
from django.urls import reverse

from aura_site.db import db_sync_to_async
from aura_site.fetch import FetchRefused, checked_fetch
from aura_site.money import plain
from generation.costs.budgets import BudgetExceeded, abudget_reserve
from generation.costs.models import Unit
from generation.health.recording import CALL_POLL, CALL_SUBMIT, call_record, secrets_of
from generation.runs.errors import RunFailed
from generation.runs.kinds import DoneInfo, KindSpec, register
from generation.runs.models import PartStatus, Run, RunStatus
from generation.runs.stepping import Again, Done, StepContext, StepPart
from videos import media
from videos.checking import check_clip
from videos.coordinator import all_failed_message, attempt_label
from videos.models import JobStatus
from videos.providers.base import (
    Done as ProviderDone,
)
from videos.providers.base import (
    Failed,
    Pending,
    VideoError,
    VideoProvider,
    VideoRequest,
)
from videos.providers.registry import UnknownVideoProvider, avideo_provider
from videos.storage import file_read, file_save, job_folder

KIND = "video"
MAX_SUBMIT_TRIES = 3
MAX_POLL_ERRORS = 8
MAX_RESUBMITS = 1
"""A provider's own job that failed for a passing reason is tried once more on that provider."""
MAX_REFETCHES = 2
"""A result whose URL had expired is fetched again after a fresh poll this many times."""
HOLD_MARGIN_SECONDS = 300.0
"""A submitted clip's budget hold outlasts the job's time limit by this much."""
RENDERING_STATES = frozenset({"running", "dreaming", "processing", "in_progress", "executing"})
VIDEO_TYPES = (
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "application/octet-stream",
    "binary/octet-stream",
)
ERROR_NO_PROVIDER = "no_provider_configured"
ERROR_ALL_FAILED = "all_providers_failed"


# ---- steps -------------------------------------------------------------------------------


def _candidates(run: Run) -> list[dict[str, Any]]:
    return list(run.input.get("candidates") or [])


def _current(ctx: StepContext) -> StepPart | None:
    key = ctx.state.get("part")
    return ctx.parts.get(key) if key else None


def _candidate_of(ctx: StepContext, part: StepPart) -> dict[str, Any]:
    return _candidates(ctx.run)[int(part.result.get("candidate", 0))]


async def video_step(ctx: StepContext) -> Again | Done:
    result = await _step(ctx)
    if isinstance(result, Again):
        shown = list(_job_shown(ctx, result.status))
        ctx.state["changed"] = shown != ctx.state.get("shown")
        ctx.state["shown"] = shown
    return result


def _job_shown(ctx: StepContext, run_status: str) -> tuple[str, int | None]:
    """The job's status and progress as a step leaves it: queued until a provider holds the
    job, submitted while it waits there, running (with its percent) once it renders."""
    part = _current(ctx)
    if part is None or not part.operation:
        return JobStatus.QUEUED, None
    if run_status == RunStatus.RUNNING and part.status == PartStatus.RUNNING:
        return JobStatus.RUNNING, part.progress
    return JobStatus.SUBMITTED, part.progress


async def _step(ctx: StepContext) -> Again | Done:
    part = _current(ctx)
    if part is None:
        return await _begin(ctx)
    if not part.operation:
        return await _submit(ctx, part)
    return await _poll(ctx, part)


async def _begin(ctx: StepContext) -> Again | Done:
    candidates = _candidates(ctx.run)
    index = int(ctx.state.get("next", 0))
    if index >= len(candidates):
        failures = list(ctx.state.get("failures") or [])
        if not failures:
            raise RunFailed(ERROR_NO_PROVIDER, str(ctx.run.input.get("nothing_message") or ""))
        raise RunFailed(
            ERROR_ALL_FAILED, all_failed_message(failures, str(ctx.run.input.get("hint") or ""))
        )
    candidate = candidates[index]
    number = int(ctx.state.get("attempts", 0)) + 1
    key = f"attempt-{number}"
    part = ctx.part(key, attempt_label(candidate))
    part.set(
        status=PartStatus.WAITING,
        provider=candidate["provider"],
        model=candidate["name"],
        result={"candidate": index, "attempt": number},
    )
    ctx.state.update(
        next=index + 1,
        attempts=number,
        part=key,
        tries=0,
        polls=0,
        poll_errors=0,
        refetches=0,
        delay=None,
        progress=None,
        message="",
        deadline=time.time() + float(settings.AURA_VIDEO_JOB_SECONDS),
        started=time.time(),
    )
    ctx.emit(
        "attempt_start",
        {
            "provider": candidate["provider"],
            "model": candidate["name"],
            "label": candidate["label"],
            "attempt": number,
        },
        part=key,
    )
    return await _submit(ctx, part)


async def _provider(candidate: dict[str, Any]) -> VideoProvider | str:
    """The candidate's adapter, or why it cannot be used now."""
    try:
        provider = await avideo_provider(str(candidate["provider"]))
    except UnknownVideoProvider as exc:
        return str(exc)
    if not provider.is_configured():
        return provider.how_to_configure or f"{candidate['provider_label']} is not configured."
    return provider


def _image_of(ctx: StepContext) -> tuple[bytes | None, str]:
    request = ctx.run.input.get("request") or {}
    name = str(request.get("image") or "")
    if not name:
        return None, ""
    return file_read(name), str(request.get("image_type") or "")


async def _submit(ctx: StepContext, part: StepPart) -> Again | Done:
    candidate = _candidate_of(ctx, part)
    provider = await _provider(candidate)
    if isinstance(provider, str):
        return _attempt_failed(ctx, part, "not_configured", provider, retryable=False)
    expected = Decimal(str(candidate.get("expected_cost") or "0"))
    try:
        await abudget_reserve(
            user_id=ctx.run.created_by_id,
            project_id=ctx.run.project_id,
            provider=provider.alias,
            model=str(candidate.get("name") or ""),
            amount=expected,
            run_id=str(ctx.run.pk),
            part=part.key,
            attempt=int(part.result.get("attempt", 1)),
            hold_seconds=float(settings.AURA_VIDEO_JOB_SECONDS) + HOLD_MARGIN_SECONDS,
        )
    except BudgetExceeded as exc:
        return _attempt_failed(ctx, part, "budget", exc.message, retryable=False)
    request_data = ctx.run.input.get("request") or {}
    image, image_type = await db_sync_to_async(_image_of)(ctx)
    request = VideoRequest(
        prompt=str(request_data.get("prompt") or ""),
        model=str(candidate["provider_model"]),
        duration_seconds=float(candidate["duration_seconds"]),
        aspect_ratio=str(request_data.get("aspect_ratio") or "16:9"),
        negative_prompt=str(request_data.get("negative_prompt") or ""),
        seed=request_data.get("seed"),
        image=image,
        image_type=image_type,
        idempotency_key=f"{ctx.run.pk}:{part.result.get('attempt', 1)}",
    )
    began = time.monotonic()
    try:
        operation = await provider.submit(request)
    except VideoError as exc:
        exc.message = provider.masked(exc.message)
        _health(ctx, provider, CALL_SUBMIT, began, exc)
        tries = int(ctx.state.get("tries", 0)) + 1
        if exc.retryable and tries < MAX_SUBMIT_TRIES:
            ctx.state["tries"] = tries
            part.set(error_code=exc.kind.value, error_message=f"Trying again: {exc.message}")
            return Again(_backoff(exc.retry_after, tries), status=RunStatus.RUNNING)
        return _attempt_failed(ctx, part, exc.kind.value, exc.message, retryable=exc.retryable)
    _health(ctx, provider, CALL_SUBMIT, began)
    part.set(status=PartStatus.SUBMITTED, operation=operation, error_code="", error_message="")
    ctx.state["delay"] = float(settings.AURA_VIDEO_POLL_SECONDS)
    return Again(ctx.state["delay"], status=RunStatus.SUBMITTED)


def _health(
    ctx: StepContext,
    provider: VideoProvider,
    call: str,
    began: float,
    error: VideoError | Failed | None = None,
) -> None:
    """Count one submit or poll for the provider health figures, stored with the step. A poll
    that finds the job failed at the provider counts as that failure (a refusal of the request,
    such as a content filter, as rejected); one that finds it cancelled, as an answer."""
    if isinstance(error, Failed):
        kind, message = error.kind.value, error.reason or error.code
    elif error is not None:
        kind, message = error.kind.value, error.message
    else:
        kind, message = "", ""
    ctx.store_with_step(
        call_record,
        family="video",
        provider=provider.alias,
        call=call,
        ok=error is None,
        latency_ms=(time.monotonic() - began) * 1000,
        error_kind=kind,
        message=message,
        secrets=secrets_of(provider.options),
    )


def _backoff(retry_after: float | None, tries: int) -> float:
    base = float(settings.AURA_VIDEO_POLL_SECONDS) * (2 ** (tries - 1))
    ceiling = float(settings.AURA_VIDEO_POLL_MAX_SECONDS)
    return max(float(retry_after or 0.0), min(base, ceiling))


def _next_delay(ctx: StepContext, retry_after: float | None) -> float:
    """The wait before the next poll: times 1.5 each poll up to the ceiling, and never less
    than the provider asked."""
    ceiling = float(settings.AURA_VIDEO_POLL_MAX_SECONDS)
    delay = float(ctx.state.get("delay") or settings.AURA_VIDEO_POLL_SECONDS)
    ctx.state["delay"] = min(delay * 1.5, ceiling)
    return max(float(retry_after or 0.0), delay)


async def _poll(ctx: StepContext, part: StepPart) -> Again | Done:
    candidate = _candidate_of(ctx, part)
    provider = await _provider(candidate)
    if isinstance(provider, str):
        return _attempt_failed(ctx, part, "not_configured", provider, retryable=False)
    if time.time() > float(ctx.state.get("deadline") or 0):
        await _cancel_quietly(provider, part)
        minutes = float(settings.AURA_VIDEO_JOB_SECONDS) / 60
        return _attempt_failed(
            ctx, part, "timeout", f"no result after {minutes:g} minutes", retryable=True
        )
    began = time.monotonic()
    try:
        result = await provider.poll(part.operation)
    except VideoError as exc:
        exc.message = provider.masked(exc.message)
        _health(ctx, provider, CALL_POLL, began, exc)
        errors = int(ctx.state.get("poll_errors", 0)) + 1
        if exc.retryable and errors < MAX_POLL_ERRORS:
            ctx.state["poll_errors"] = errors
            return Again(_backoff(exc.retry_after, errors), status=ctx.run.status)
        await _cancel_quietly(provider, part)
        return _attempt_failed(ctx, part, exc.kind.value, exc.message, retryable=exc.retryable)
    if isinstance(result, Failed):
        result = dataclasses.replace(
            result, reason=provider.masked(result.reason), code=provider.masked(result.code)
        )
    failed = result if isinstance(result, Failed) and not result.cancelled else None
    _health(ctx, provider, CALL_POLL, began, failed)
    ctx.state["poll_errors"] = 0
    ctx.state["polls"] = int(ctx.state.get("polls", 0)) + 1
    if isinstance(result, Pending):
        return _pending(ctx, part, result)
    if isinstance(result, Failed):
        return _provider_failed(ctx, part, result)
    return await _accept(ctx, part, provider, candidate, result)


def _pending(ctx: StepContext, part: StepPart, result: Pending) -> Again:
    percent = None if result.progress is None else max(0, min(100, round(result.progress)))
    rendering = percent is not None or result.state.lower() in RENDERING_STATES
    message = result.message or (
        result.state.replace("_", " ").capitalize() if result.state else ""
    )
    status = PartStatus.RUNNING if rendering else PartStatus.SUBMITTED
    if (
        percent != ctx.state.get("progress")
        or message != ctx.state.get("message")
        or status != part.status
    ):
        ctx.state.update(progress=percent, message=message)
        part.set(status=status, progress=percent)
        ctx.emit(
            "progress",
            {"percent": percent, "message": message, "state": result.state},
            part=part.key,
        )
    run_status = RunStatus.RUNNING if rendering else RunStatus.SUBMITTED
    return Again(_next_delay(ctx, result.retry_after), status=run_status)


def _provider_failed(ctx: StepContext, part: StepPart, result: Failed) -> Again:
    code = result.code or result.kind.value
    reason = result.reason or "the provider reported a failure"
    if result.retryable:
        resubmits = dict(ctx.state.get("resubmits") or {})
        index = str(part.result.get("candidate", 0))
        if resubmits.get(index, 0) < MAX_RESUBMITS:
            resubmits[index] = resubmits.get(index, 0) + 1
            ctx.state["resubmits"] = resubmits
            ctx.state["next"] = int(index)
            return _attempt_failed(ctx, part, code, reason, retryable=True, again_on_same=True)
    return _attempt_failed(ctx, part, code, reason, retryable=result.retryable)


def _attempt_failed(
    ctx: StepContext,
    part: StepPart,
    code: str,
    message: str,
    *,
    retryable: bool,
    cost: Decimal | None = None,
    again_on_same: bool = False,
) -> Again:
    """End the current attempt with its cost record, and go on to the next candidate (or end
    the job when none is left, at the next step)."""
    candidate = _candidate_of(ctx, part)
    charged = Decimal(0) if cost is None else cost
    part.set(
        status=PartStatus.FAILED,
        error_code=code[:40],
        error_message=message[:2000],
        cost=charged,
    )
    ctx.charge(
        provider=candidate["provider"],
        model=candidate["name"],
        part=part.key,
        cost=charged,
        outcome="failed",
        attempt=int(part.result.get("attempt", 1)),
        unit=str(candidate.get("price_unit") or Unit.CLIP),
        quantity=_quantity(candidate) if cost else Decimal(0),
        error_kind=code[:40],
        reported=False,
    )
    ctx.emit(
        "attempt_failed",
        {
            "provider": candidate["provider"],
            "model": candidate["name"],
            "code": code,
            "message": message,
            "retryable": retryable,
            "attempt": int(part.result.get("attempt", 1)),
        },
        part=part.key,
    )
    failures = list(ctx.state.get("failures") or [])
    failures.append(
        {
            "model": candidate["name"],
            "label": candidate["label"],
            "provider": candidate["provider"],
            "code": code,
            "message": message,
        }
    )
    ctx.state["failures"] = failures
    ctx.state["part"] = None
    candidates = _candidates(ctx.run)
    following = int(ctx.state.get("next", 0))
    if following < len(candidates) and not again_on_same:
        ctx.emit(
            "provider_switch",
            {"from": candidate["name"], "to": candidates[following]["name"], "reason": code},
        )
    return Again(0.0, status=RunStatus.RUNNING)


def _quantity(candidate: dict[str, Any]) -> Decimal:
    if candidate.get("price_unit") == Unit.SECOND:
        return Decimal(str(candidate["duration_seconds"]))
    return Decimal(1)


def _attempt_cost(candidate: dict[str, Any], result: ProviderDone) -> tuple[Decimal, bool]:
    """What the attempt cost: the provider's own figure where it gave one, else the price."""
    if result.cost_usd:
        try:
            return Decimal(result.cost_usd).quantize(Decimal("0.00000001")), True
        except ArithmeticError:
            pass
    return Decimal(str(candidate.get("expected_cost") or "0")), False


async def _cancel_quietly(provider: VideoProvider, part: StepPart) -> None:
    with contextlib.suppress(VideoError):
        await provider.cancel(part.operation)


# ---- accepting a result --------------------------------------------------------------------

_fetch_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def fetch_client() -> httpx.AsyncClient:
    """This loop's client for downloading results: no proxies from the environment, no
    redirects of its own (the checked fetch follows and checks each hop)."""
    loop = asyncio.get_running_loop()
    client = _fetch_clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=30.0)
        _fetch_clients[loop] = client
    return client


async def _download(provider: VideoProvider, result: ProviderDone) -> bytes:
    if result.content is not None:
        if len(result.content) > int(settings.AURA_VIDEO_MAX_BYTES):
            raise FetchRefused("the provider's video is larger than the studio takes", "too_large")
        return result.content
    fetched = await checked_fetch(
        fetch_client(),
        result.url,
        allowed_private=[provider.base_url] if provider.base_url else [],
        max_bytes=int(settings.AURA_VIDEO_MAX_BYTES),
        timeout=float(settings.AURA_VIDEO_DOWNLOAD_SECONDS),
        content_types=VIDEO_TYPES,
        headers=provider.download_headers(result.url),
    )
    return fetched.body


def _extension(facts: media.VideoFacts) -> str:
    container = facts.container.lower()
    if "webm" in container:
        return "webm"
    if "matroska" in container:
        return "mkv"
    return "mp4"


def facts_metadata(facts: media.VideoFacts) -> dict[str, Any]:
    return {
        "width": facts.width,
        "height": facts.height,
        "fps": round(facts.fps, 3),
        "frames": facts.frames,
        "frames_capped": facts.frames_capped,
        "duration_seconds": round(facts.duration_seconds, 3),
        "codec": facts.codec,
        "container": facts.container,
        "bytes": facts.bytes,
        "motion": facts.motion.verdict,
    }


def _store(
    body: bytes,
    thumbnail: bytes,
    facts: media.VideoFacts,
    project_id: int,
    job_id: int,
    attempt: int,
) -> tuple[str, str]:
    """Store the checked clip and its thumbnail in the videos storage."""
    folder = job_folder(project_id, job_id)
    video_name = file_save(f"{folder}/clip-{attempt}.{_extension(facts)}", body)
    thumbnail_name = file_save(f"{folder}/thumbnail-{attempt}.jpg", thumbnail)
    return video_name, thumbnail_name


async def _accept(
    ctx: StepContext,
    part: StepPart,
    provider: VideoProvider,
    candidate: dict[str, Any],
    result: ProviderDone,
) -> Again | Done:
    try:
        body = await _download(provider, result)
    except FetchRefused as refused:
        refetches = int(ctx.state.get("refetches", 0))
        if refused.code in ("http_status", "timeout", "network") and refetches < MAX_REFETCHES:
            ctx.state["refetches"] = refetches + 1
            return Again(_backoff(None, refetches + 1), status=RunStatus.RUNNING)
        cost, _ = _attempt_cost(candidate, result)
        return _attempt_failed(
            ctx,
            part,
            "download_failed",
            f"the result could not be fetched: {refused.reason}",
            retryable=False,
            cost=cost,
        )
    job_id = int(ctx.run.input["job_id"])
    attempt = int(part.result.get("attempt", 1))
    try:
        facts, thumbnail = await check_clip(body)
    except media.NotAVideo as exc:
        cost, _ = _attempt_cost(candidate, result)
        return _attempt_failed(
            ctx, part, "not_a_video", f"not a real video: {exc}", retryable=False, cost=cost
        )
    video_name, thumbnail_name = await asyncio.to_thread(
        _store, body, thumbnail, facts, ctx.run.project_id, job_id, attempt
    )
    cost, reported = _attempt_cost(candidate, result)
    started = float(ctx.state.get("started") or time.time())
    request = ctx.run.input.get("request") or {}
    metadata = {
        **facts_metadata(facts),
        "processing_ms": int((time.time() - started) * 1000),
        "model": candidate["name"],
        "model_label": candidate["label"],
        "provider": candidate["provider"],
        "provider_model": candidate["provider_model"],
        "prompt": request.get("prompt", ""),
        "seed": request.get("seed"),
        "cost": plain(cost),
    }
    part.set(
        status=PartStatus.SUCCEEDED,
        progress=100,
        cost=cost,
        result={**part.result, "video": video_name, "thumbnail": thumbnail_name},
    )
    ctx.charge(
        provider=candidate["provider"],
        model=candidate["name"],
        part=part.key,
        cost=cost,
        outcome="succeeded",
        attempt=attempt,
        unit=str(candidate.get("price_unit") or Unit.CLIP),
        quantity=_quantity(candidate),
        reported=reported,
    )
    ctx.state["part"] = None
    project_id = ctx.run.project_id
    return Done(
        {
            "job_id": job_id,
            "video": video_name,
            "thumbnail": thumbnail_name,
            "video_url": reverse("videos:clip", args=[project_id, job_id]),
            "thumbnail_url": reverse("videos:thumbnail", args=[project_id, job_id]),
            "metadata": metadata,
            "provider": candidate["provider"],
            "model": candidate["name"],
            "provider_model": candidate["provider_model"],
        }
    )


# ---- cancel ------------------------------------------------------------------------------


async def video_cancel(ctx: StepContext) -> None:
    """The provider's own cancel for the attempt in flight, and its cost record: the
    providers the studio calls report no charge for a cancelled job, so it is recorded as 0,
    estimated, unless the attempt already had a cost."""
    part = _current(ctx)
    if part is None:
        return
    candidate = _candidate_of(ctx, part)
    if part.operation:
        provider = await _provider(candidate)
        if not isinstance(provider, str):
            await provider.cancel(part.operation)
    ctx.charge(
        provider=candidate["provider"],
        model=candidate["name"],
        part=part.key,
        cost=part.cost,
        outcome="cancelled",
        attempt=int(part.result.get("attempt", 1)),
        unit=str(candidate.get("price_unit") or Unit.CLIP),
        quantity=Decimal(0),
        reported=False,
    )


# ---- the kind ----------------------------------------------------------------------------


def run_event_fields(run: Run) -> dict[str, Any]:
    candidates = _candidates(run)
    return {
        "run_id": str(run.pk),
        "kind": KIND,
        "job_id": run.input.get("job_id"),
        "model": run.input.get("model", ""),
        "candidates": [c["name"] for c in candidates],
        "expected_cost": plain(run.expected_cost),
        "cost_ceiling": plain(run.cost_ceiling),
    }


def done_fields(info: DoneInfo) -> dict[str, Any]:
    extra = info.extra
    return {
        "run_id": info.run_id,
        "job_id": extra.get("job_id"),
        "video_url": extra.get("video_url", ""),
        "thumbnail_url": extra.get("thumbnail_url", ""),
        "metadata": extra.get("metadata", {}),
        "provider": extra.get("provider", ""),
        "model": extra.get("model", ""),
        "cost": info.cost,
        "duration_ms": info.duration_ms,
    }


def step_timeout() -> float:
    return float(settings.AURA_VIDEO_DOWNLOAD_SECONDS) + 60.0


def register_video_kind() -> None:
    from videos.live import video_live, video_panel_context
    from videos.services import job_run_ended, job_step_stored

    register(
        KindSpec(
            name=KIND,
            label="Video",
            panel="videos/panel.html",
            step=video_step,
            cancel=video_cancel,
            parts=(),
            text_part=None,
            stage_event="progress",
            step_timeout_seconds=step_timeout(),
            done_fields=done_fields,
            run_event_fields=run_event_fields,
            counts_against_limits=False,
            on_end=job_run_ended,
            on_step=job_step_stored,
            live=video_live,
            panel_context=video_panel_context,
        )
    )
