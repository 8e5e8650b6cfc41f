"""Reads of runs, always through the caller's project membership (non-members get 404)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
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
    """Two reads: the run, and its events after the stored text together with every provider
    switch and progress event (the stage line shows the last one while the run is active; an
    ended run's metrics say how it ended)."""
    run = Run.objects.select_related("project").get(pk=run_id)
    rows = (
        RunEvent.objects.filter(run_id=run.pk)
        .filter(Q(seq__gt=run.text_seq) | Q(event__in=("provider_switch", "progress")))
        .order_by("seq")
        .values_list("seq", "event", "data")
    )
    tail: list[tuple[str, dict[str, Any]]] = []
    switches: list[dict[str, Any]] = []
    stage: dict[str, Any] | None = None
    last_seq = run.text_seq
    for seq, event, data in rows:
        if seq > run.text_seq:
            tail.append((event, data))
            last_seq = seq
        if event == "provider_switch":
            switches.append(dict(data))
        elif event == "progress":
            stage = data
    if run.is_active:
        text = text_from_events(tail, base=run.text)
    else:
        text, stage = run.text, None
    return Snapshot(
        run=run,
        text=text,
        last_seq=last_seq,
        switches=switches,
        stage=str(stage.get("stage", "")) if stage else "",
        stage_message=str(stage.get("message", "")) if stage else "",
    )
