"""Reads of runs, always through the caller's project membership (non-members get 404)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from aura_site.projects.models import Membership, Project, Role, role_at_least
from generation.runs.events import texts_from_rows
from generation.runs.fragments import PartView, metrics_of
from generation.runs.kinds import KindSpec, UnknownRunKind, spec_for
from generation.runs.models import ACTIVE_STATUSES, Run, RunEvent, RunPart


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
    part: str = ""


def run_events_after(
    run_id: UUID | str, after: int, before: int | None = None
) -> list[StoredEvent]:
    """Stored events with ``after < seq`` (and ``seq < before``), in order. The caller has
    already been authorised for the run."""
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=after)
    if before is not None:
        events = events.filter(seq__lt=before)
    return [
        StoredEvent(seq, event, data, part)
        for seq, event, part, data in events.order_by("seq").values_list(
            "seq", "event", "part", "data"
        )
    ]


ROUTE_EVENTS = ("provider_switch", "provider_retry")
"""Events of a run's route along its providers: the panel lists them in order."""


@dataclass(slots=True)
class Snapshot:
    """Everything a viewer shows, as of event ``last_seq``."""

    run: Run
    spec: KindSpec | None
    text: str
    last_seq: int
    parts: list[PartView] = field(default_factory=list)
    switches: list[dict[str, Any]] = field(default_factory=list)
    stage: str = ""
    stage_message: str = ""

    @property
    def part(self) -> dict[str, PartView]:
        return {view.key: view for view in self.parts}

    @property
    def stage_label(self) -> str:
        if self.spec is None:
            return self.stage_message or self.stage
        return self.spec.stage_label(self.stage, self.stage_message)


def run_snapshot(run_id: UUID | str) -> Snapshot:
    """Three reads: the run, its parts, and its events after the oldest stored text together
    with every provider switch and stage event (the stage line shows the last one while the
    run is active; an ended run's metrics say how it ended)."""
    run = Run.objects.select_related("project").get(pk=run_id)
    try:
        spec: KindSpec | None = spec_for(run.kind)
    except UnknownRunKind:
        spec = None
    stage_event = spec.stage_event if spec is not None else "progress"
    parts = list(RunPart.objects.filter(run_id=run.pk).order_by("position", "key"))
    since = min([run.text_seq, *(part.text_seq for part in parts)])
    rows = list(
        RunEvent.objects.filter(run_id=run.pk)
        .filter(Q(seq__gt=since) | Q(event__in=(*ROUTE_EVENTS, stage_event)))
        .order_by("seq")
        .values_list("seq", "event", "part", "data")
    )
    switches: list[dict[str, Any]] = []
    stage: dict[str, Any] | None = None
    last_seq = max([run.text_seq, *(part.text_seq for part in parts)])
    for seq, event, key, data in rows:
        last_seq = max(last_seq, seq)
        if event in ROUTE_EVENTS:
            switches.append(dict(data))
        elif event == stage_event and not key:
            stage = data
    if run.is_active:
        text, texts = texts_from_rows(run, parts, rows, spec)
    else:
        text, texts, stage = run.text, {part.key: part.text for part in parts}, None
    views = [
        PartView(
            key=part.key,
            label=part.label or part.key,
            position=part.position,
            status=part.status,
            status_label=str(part.get_status_display()),
            provider=part.provider,
            model=part.model,
            text=texts.get(part.key, part.text),
            input_tokens=part.input_tokens,
            output_tokens=part.output_tokens,
            usage_reported=part.usage_reported,
            cost=part.cost,
            progress=part.progress,
            result=part.result,
            operation=part.operation,
            error_code=part.error_code,
            error_message=part.error_message,
            dom_id=spec.dom_id_of(run.dom_id, part.key) if spec else f"{run.dom_id}-{part.key}",
            started_at=part.started_at,
            finished_at=part.finished_at,
            attempts=list(part.attempts),
        )
        for part in parts
    ]
    return Snapshot(
        run=run,
        spec=spec,
        text=text,
        last_seq=last_seq,
        parts=views,
        switches=switches,
        stage=str(stage.get("stage", "")) if stage else "",
        stage_message=str(stage.get("message", "")) if stage else "",
    )


def panel_context(
    snapshot: Snapshot, can_edit: bool = False, *, notice: str = ""
) -> dict[str, Any]:
    """The context of the run's panel template (its kind's ``panel`` partials). Synchronous:
    a kind's ``panel_context`` may read the database."""
    context: dict[str, Any] = {
        "run": snapshot.run,
        "spec": snapshot.spec,
        "m": metrics_of(snapshot.run),
        "text": snapshot.text,
        "parts": snapshot.parts,
        "part": snapshot.part,
        "switches": snapshot.switches,
        "stage": snapshot.stage_label,
        "can_edit": can_edit,
        "notice": notice,
    }
    if snapshot.spec is not None and snapshot.spec.panel_context is not None:
        context.update(snapshot.spec.panel_context(snapshot))
    return context


def panel_template(snapshot: Snapshot) -> str:
    return snapshot.spec.panel if snapshot.spec is not None else "runs/panel.html"
