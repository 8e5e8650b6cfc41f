"""Reads of video jobs, always through the caller's project membership."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from aura_site.projects.models import Membership, Project, Role
from aura_site.projects.selectors import project_for_user
from generation.runs.models import RunPart
from videos.models import VideoJob


def jobs_of(project: Project) -> QuerySet[VideoJob]:
    return VideoJob.objects.filter(project=project).select_related("created_by", "run")


def jobs_for_project(
    user: Any, project_id: int | str
) -> tuple[Project, Membership, QuerySet[VideoJob]]:
    project, membership = project_for_user(user, project_id)
    return project, membership, jobs_of(project)


def _pk(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such video job.") from None


def job_get(
    user: Any, project_id: int | str, job_id: int | str, minimum: str = Role.VIEWER
) -> tuple[VideoJob, Membership]:
    project, membership = project_for_user(user, project_id, minimum=minimum)
    job = jobs_of(project).filter(pk=_pk(job_id)).first()
    if job is None:
        raise Http404("No such video job.")
    return job, membership


def job_get_any_project(
    user: Any, job_id: int | str, minimum: str = Role.VIEWER
) -> tuple[VideoJob, Membership]:
    """A job by id alone (the API): found only through one of the caller's memberships."""
    pk = _pk(job_id)
    project_id = (
        VideoJob.objects.filter(pk=pk, project__memberships__user=user)
        .values_list("project_id", flat=True)
        .first()
        if getattr(user, "is_authenticated", False)
        else None
    )
    if project_id is None:
        raise Http404("No such video job.")
    return job_get(user, project_id, pk, minimum=minimum)


def job_attempts(job: VideoJob) -> list[RunPart]:
    """The job's attempts, first to last (the parts of its run)."""
    if job.run_id is None:
        return []
    return list(RunPart.objects.filter(run_id=job.run_id).order_by("position", "key"))


def recent_jobs(project: Project, limit: int = 5) -> list[VideoJob]:
    return list(jobs_of(project)[:limit])
