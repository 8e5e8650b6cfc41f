"""Writes of video jobs: check a request, plan and price it, start it, and follow its run.

A job request (../shared/API.md §3 "Videos", and the page's form) is checked against its
project by ``job_input_clean`` (a ``ValidationError`` per field). ``job_prepare`` plans it with
the coordinator (the candidates it will try, and what to configure for the ones it cannot) and
prices it at the first candidate's price; ``job_start`` creates the run and the job in one
transaction. A job none of whose models can be tried is still created, and fails at its first
step with the message naming what to configure.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from aura_site.api_types import ID_MAX
from aura_site.projects import live
from aura_site.projects.models import Activity, Project
from generation.runs.models import Run
from generation.runs.services import RunDraft, run_create, run_prepare
from generation.runs.stepping import StepContext
from videos.catalogue import UnknownVideoModel, VideoModel, video_models
from videos.coordinator import Plan, nothing_to_try_message, plan
from videos.jobs import KIND
from videos.models import AspectRatio, JobStatus, VideoJob
from videos.storage import file_save, job_folder

PROMPT_MIN, PROMPT_MAX = 3, 2000
NEGATIVE_MAX = 2000
SEED_MAX = 2**32 - 1
SHOT_NUMBER_MAX = 1000
IMAGE_MAX_BYTES = 5 * 1024 * 1024
IMAGE_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_DATA_URI = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.S)


def _image(value: Any, errors: dict[str, str]) -> tuple[bytes, str] | None:
    if value in (None, ""):
        return None
    match = _DATA_URI.match(str(value))
    if match is None:
        errors["image"] = "Give the start image as a data URI: data:image/png;base64,…"
        return None
    media_type = match["type"].lower()
    if media_type not in IMAGE_TYPES:
        errors["image"] = "The start image must be a PNG or a JPEG."
        return None
    try:
        raw = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        errors["image"] = "The start image's data is not valid base64."
        return None
    if len(raw) > IMAGE_MAX_BYTES:
        errors["image"] = f"The start image must be under {IMAGE_MAX_BYTES // (1024 * 1024)} MB."
        return None
    if not raw.startswith(IMAGE_TYPES[media_type]):
        errors["image"] = f"The start image is not a {media_type.split('/')[1].upper()} file."
        return None
    return raw, media_type


def _shot(project: Project, value: Any, errors: dict[str, str]) -> dict[str, Any]:
    """The roundtable shot a job is made from (the roundtable app's sessions, read through the
    app registry so the products stay independent)."""
    if value in (None, "", {}):
        return {}
    if not isinstance(value, dict) or set(value) - {"roundtable", "number"}:
        errors["shot"] = "Give the shot as {roundtable: id, number: n}."
        return {}
    try:
        session_id, number = int(value["roundtable"]), int(value["number"])
    except (KeyError, TypeError, ValueError):
        errors["shot"] = "Give the shot as {roundtable: id, number: n}."
        return {}
    if not 1 <= session_id <= ID_MAX:
        errors["shot"] = "No such roundtable in this project."
        return {}
    session_model = apps.get_model("roundtable", "Session")
    session = session_model.objects.filter(project=project, pk=session_id).first()
    if session is None:
        errors["shot"] = "No such roundtable in this project."
        return {}
    shots = [shot for shot in session.shots or [] if int(shot.get("number") or 0) == number]
    if not shots:
        errors["shot"] = f"That roundtable has no shot {number}."
        return {}
    return {
        "roundtable": session_id,
        "number": number,
        "description": str(shots[0].get("description") or "")[:500],
    }


def job_input_clean(
    project: Project, data: dict[str, Any], models: list[VideoModel] | None = None
) -> dict[str, Any]:
    """The fields of a job request, checked against ``project`` and the catalogue: raises
    ``ValidationError`` with a message per field."""
    errors: dict[str, str] = {}
    catalogue = video_models() if models is None else models
    by_name = {model.name: model for model in catalogue}
    prompt = " ".join(str(data.get("prompt") or "").split())
    if len(prompt) < PROMPT_MIN:
        errors["prompt"] = f"Describe the clip in at least {PROMPT_MIN} characters."
    elif len(prompt) > PROMPT_MAX:
        errors["prompt"] = f"Keep the prompt under {PROMPT_MAX:,} characters."
    name = str(data.get("model") or "")
    model = by_name.get(name)
    if model is None:
        errors["model"] = (
            "Choose a model." if not name else str(UnknownVideoModel(name, list(by_name)))
        )
    raw_duration = data.get("duration_seconds")
    duration = Decimal(0)
    if raw_duration in (None, ""):
        if model is not None:
            duration = Decimal(str(model.duration_for(5.0)))
    else:
        try:
            duration = Decimal(str(raw_duration))
        except InvalidOperation:
            errors["duration_seconds"] = "The duration is a number of seconds."
        else:
            if not duration.is_finite():
                errors["duration_seconds"] = "The duration is a number of seconds."
    if (
        "duration_seconds" not in errors
        and model is not None
        and not 1 <= duration <= Decimal(str(model.max_duration_seconds))
    ):
        errors["duration_seconds"] = (
            f"{model.label} makes clips of 1 to {model.max_duration_seconds:g} seconds."
        )
    ratio = str(data.get("aspect_ratio") or AspectRatio.WIDE)
    if ratio not in AspectRatio.values:
        errors["aspect_ratio"] = "The aspect ratio is 16:9, 9:16 or 1:1."
    elif model is not None and ratio not in model.spec.ratios:
        errors["aspect_ratio"] = f"{model.label} makes {', '.join(model.spec.ratios)} clips."
    negative = " ".join(str(data.get("negative_prompt") or "").split())
    if len(negative) > NEGATIVE_MAX:
        errors["negative_prompt"] = f"Keep the negative prompt under {NEGATIVE_MAX:,} characters."
    seed: int | None = None
    if data.get("seed") not in (None, ""):
        try:
            seed = int(str(data["seed"]))
        except ValueError:
            errors["seed"] = "The seed is a whole number."
        else:
            if not 0 <= seed <= SEED_MAX:
                errors["seed"] = f"The seed is 0 to {SEED_MAX}."
    image = _image(data.get("image"), errors)
    if image is not None and model is not None and not model.spec.image_to_video:
        errors["image"] = f"{model.label} makes no video from a start image."
    if image is None and model is not None and not model.spec.text_to_video:
        errors["image"] = f"{model.label} needs a start image."
    shot = _shot(project, data.get("shot"), errors)
    if errors:
        raise ValidationError(errors)
    assert model is not None
    return {
        "prompt": prompt,
        "negative_prompt": negative,
        "model": model,
        "duration_seconds": duration,
        "aspect_ratio": ratio,
        "seed": seed,
        "image": image,
        "shot": shot,
        "catalogue": catalogue,
    }


@dataclass(frozen=True, slots=True)
class JobDraft:
    draft: RunDraft
    cleaned: dict[str, Any]
    plan: Plan

    @property
    def expected_cost(self) -> Decimal:
        return self.draft.expected_cost


def job_plan(cleaned: dict[str, Any]) -> Plan:
    return plan(
        cleaned["model"],
        cleaned["catalogue"],
        seconds=float(cleaned["duration_seconds"]),
        with_image=cleaned["image"] is not None,
    )


def job_prepare(
    user: Any, project: Project, data: dict[str, Any], *, correlation_id: str = ""
) -> JobDraft:
    """Check a job request for an editor of ``project``, plan it and price it."""
    cleaned = job_input_clean(project, data)
    chosen: VideoModel = cleaned["model"]
    job_plan_ = job_plan(cleaned)
    first = job_plan_.candidates[0] if job_plan_.candidates else None
    draft = run_prepare(
        user=user,
        project=project,
        kind=KIND,
        input={
            "model": chosen.name,
            "request": {
                "prompt": cleaned["prompt"],
                "negative_prompt": cleaned["negative_prompt"],
                "duration_seconds": float(cleaned["duration_seconds"]),
                "aspect_ratio": cleaned["aspect_ratio"],
                "seed": cleaned["seed"],
                "image": "",
                "image_type": cleaned["image"][1] if cleaned["image"] else "",
            },
            "candidates": [candidate.as_dict() for candidate in job_plan_.candidates],
            "left_out": [
                {"model": model.name, "label": model.label, "reason": reason}
                for model, reason in job_plan_.left_out
            ],
            "hint": job_plan_.configure_hint,
            "nothing_message": "" if first else nothing_to_try_message(job_plan_),
        },
        provider_requested=chosen.provider,
        provider=first.provider if first else chosen.provider,
        model=first.name if first else chosen.name,
        expected_cost=Decimal(first.expected_cost) if first else Decimal(0),
        cost_ceiling=plan_ceiling(job_plan_),
        correlation_id=correlation_id,
    )
    return JobDraft(draft, cleaned, job_plan_)


def plan_ceiling(job_plan_: Plan) -> Decimal:
    """The most a job may spend: the clip price of every candidate of its chain."""
    return sum((Decimal(c.expected_cost) for c in job_plan_.candidates), Decimal(0))


def job_create_for(prepared: JobDraft) -> Any:
    """``with_run`` of ``run_create``: the job, in the run's transaction, its id in the run's
    input (the ``run`` event names it), its start image in the videos storage."""
    cleaned = prepared.cleaned

    def create(run: Run) -> None:
        job = VideoJob.objects.create(
            project=run.project,
            run=run,
            created_by=run.created_by,
            prompt=cleaned["prompt"],
            negative_prompt=cleaned["negative_prompt"],
            model=cleaned["model"].name,
            duration_seconds=cleaned["duration_seconds"],
            aspect_ratio=cleaned["aspect_ratio"],
            seed=cleaned["seed"],
            shot=cleaned["shot"],
            expected_cost=prepared.expected_cost,
        )
        request = dict(run.input["request"])
        if cleaned["image"] is not None:
            raw, media_type = cleaned["image"]
            extension = "png" if media_type == "image/png" else "jpg"
            name = file_save(f"{job_folder(run.project_id, job.pk)}/start.{extension}", raw)
            job.image = name
            job.save(update_fields=["image"])
            request["image"] = name
        run.input = {**run.input, "job_id": job.pk, "request": request}
        Run.objects.filter(pk=run.pk).update(input=run.input)
        _activity(job, run.created_by, f"started the clip “{job.title}”")

    return create


def job_start(prepared: JobDraft) -> Run:
    """Create the run and its job (sync; the caller has checked the role)."""
    return run_create(prepared.draft, with_run=job_create_for(prepared))


def _activity(job: VideoJob, actor: Any, verb: str) -> None:
    Activity.objects.create(project_id=job.project_id, actor=actor, verb=verb[:200])
    live.project_changed(job.project_id, ["videos"])


def job_step_stored(ctx: StepContext) -> None:
    """The video kind's ``on_step``: the job follows its run's status and progress (in the
    step's transaction); the project's pages hear of it only when what they show changed."""
    if not ctx.state.get("changed"):
        return
    status, progress = ctx.state["shown"]
    VideoJob.objects.filter(pk=ctx.run.input.get("job_id")).update(status=status, progress=progress)
    live.project_changed(ctx.run.project_id, ["videos"])


_ENDING = {
    "succeeded": (JobStatus.SUCCEEDED, "finished"),
    "failed": (JobStatus.FAILED, "failed"),
    "cancelled": (JobStatus.CANCELLED, "was cancelled"),
    "interrupted": (JobStatus.FAILED, "was interrupted"),
}


def job_run_ended(run: Run, status: str) -> None:
    """The video kind's ``on_end``: the job takes the run's ending, cost and clip at once (in
    the transaction that ends the run)."""
    job = VideoJob.objects.filter(run=run).first()
    if job is None:
        return
    state, words = _ENDING.get(str(status), (JobStatus.FAILED, "ended"))
    result = run.result or {}
    fields: dict[str, Any] = {
        "status": state,
        "cost": run.cost,
        "finished_at": run.finished_at or timezone.now(),
        "error_code": run.error_code if state != JobStatus.SUCCEEDED else "",
        "error_message": run.error_message if state != JobStatus.SUCCEEDED else "",
    }
    if state == JobStatus.SUCCEEDED:
        fields.update(
            video=str(result.get("video") or ""),
            thumbnail=str(result.get("thumbnail") or ""),
            metadata=result.get("metadata") or {},
            provider=str(result.get("provider") or ""),
            provider_model=str(result.get("provider_model") or ""),
            progress=100,
        )
    VideoJob.objects.filter(pk=job.pk).update(**fields)
    actor: Any
    if state == JobStatus.CANCELLED and run.cancelled_by is not None:
        actor, verb = run.cancelled_by, f"cancelled the clip “{job.title}”"
    elif state == JobStatus.SUCCEEDED:
        actor, verb = run.created_by, f"made the clip “{job.title}”"
    else:
        actor, verb = run.created_by, f"asked for the clip “{job.title}”, which {words}"
    Activity.objects.create(project_id=job.project_id, actor=actor, verb=verb[:200])
    live.project_changed(job.project_id, ["videos"])
