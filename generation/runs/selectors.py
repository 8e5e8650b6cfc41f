"""Reads of runs, always through the caller's project membership (non-members get 404)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from aura_site.projects.models import Membership, Project, Role, role_at_least
from generation.runs.events import text_from_events
from generation.runs.models import ACTIVE_STATUSES, Run, RunEvent


def _run_uuid(run_id: object) -> UUID:
    try:
        return run_id if isinstance(run_id, UUID) else UUID(str(run_id))
    except ValueError:
        raise Http404("No such run.") from None


def run_for_user(user: Any, run_id: object, minimum: str = Role.VIEWER) -> tuple[Run, Membership]:
    """The run and the caller's membership of its project; 404 for non-members, 403 when the
    role is below ``minimum``."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("No such run.")
    run = Run.objects.select_related("project").filter(pk=_run_uuid(run_id)).first()
    membership = (
        Membership.objects.filter(project_id=run.project_id, user=user).first() if run else None
    )
    if run is None or membership is None:
        raise Http404("No such run.")
    if not role_at_least(membership.role, minimum):
        raise PermissionDenied(f"This needs the {minimum} role in the project.")
    return run, membership


def runs_for_project(project: Project, limit: int = 10) -> QuerySet[Run]:
    return Run.objects.filter(project=project).order_by("-queued_at")[:limit]


def active_runs_count(user: Any) -> int:
    return Run.objects.filter(created_by=user, status__in=ACTIVE_STATUSES).count()


@dataclass(slots=True)
class StoredEvent:
    seq: int
    event: str
    data: dict[str, Any]


def run_events_after(
    run_id: UUID | str, after: int, before: int | None = None
) -> list[StoredEvent]:
    """Stored events with ``after < seq`` (and ``seq < before``), in order. The caller has
    already been authorised for the run."""
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=after)
    if before is not None:
        events = events.filter(seq__lt=before)
    return [
        StoredEvent(seq, event, data)
        for seq, event, data in events.order_by("seq").values_list("seq", "event", "data")
    ]


@dataclass(slots=True)
class Snapshot:
    """Everything a viewer shows, as of event ``last_seq``."""

    run: Run
    text: str
    last_seq: int
    switches: list[dict[str, Any]] = field(default_factory=list)
    stage: str = ""
    stage_message: str = ""


def run_snapshot(run_id: UUID | str) -> Snapshot:
    run = Run.objects.select_related("project").get(pk=run_id)
    tail = run_events_after(run.pk, run.text_seq)
    last_seq = tail[-1].seq if tail else run.text_seq
    text = text_from_events(((e.event, e.data) for e in tail), base=run.text)
    if not run.is_active:
        text = run.text
    switches = [
        dict(data)
        for data in RunEvent.objects.filter(
            run_id=run.pk, event="provider_switch", seq__lte=last_seq
        )
        .order_by("seq")
        .values_list("data", flat=True)
    ]
    stage = (
        RunEvent.objects.filter(run_id=run.pk, event="progress", seq__lte=last_seq)
        .order_by("-seq")
        .values_list("data", flat=True)
        .first()
    )
    return Snapshot(
        run=run,
        text=text,
        last_seq=last_seq,
        switches=switches,
        stage=str(stage.get("stage", "")) if stage else "",
        stage_message=str(stage.get("message", "")) if stage else "",
    )
