"""Reads of scripts, versions and personas, always through the user's project membership."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from aura_site.projects.models import Membership, Project, Role
from aura_site.projects.selectors import project_for_user
from generation.runs.models import ACTIVE_STATUSES, Run
from generation.scripts.models import (
    Persona,
    Script,
    ScriptStatus,
    ScriptTemplate,
    ScriptVersion,
)


def templates_all() -> QuerySet[ScriptTemplate]:
    return ScriptTemplate.objects.all()


def template_by_slug(slug: str) -> ScriptTemplate | None:
    if not slug:
        return None
    return ScriptTemplate.objects.filter(slug=slug).first()


def scripts_for_project(
    user: Any, project_id: int | str, query: str = ""
) -> tuple[Project, Membership, QuerySet[Script]]:
    project, membership = project_for_user(user, project_id)
    scripts = Script.objects.filter(project=project).select_related(
        "template", "persona", "created_by", "current_version"
    )
    query = query.strip()
    if query:
        scripts = scripts.filter(
            Q(title__icontains=query)
            | Q(topic__icontains=query)
            | Q(provider__icontains=query)
            | Q(template__name__icontains=query)
            | Q(persona__name__icontains=query)
        )
    return project, membership, scripts


def script_get(
    user: Any, project_id: int | str, script_id: int | str, minimum: str = Role.VIEWER
) -> tuple[Script, Membership]:
    """The script of a project the user belongs to (``Http404`` otherwise)."""
    project, membership = project_for_user(user, project_id, minimum=minimum)
    try:
        pk = int(script_id)
    except (TypeError, ValueError):
        raise Http404("No such script.") from None
    script = (
        Script.objects.select_related("project", "template", "persona", "current_version")
        .filter(project=project, pk=pk)
        .first()
    )
    if script is None:
        raise Http404("No such script.")
    return script, membership


def script_get_any_project(user: Any, script_id: int | str) -> tuple[Script, Membership]:
    """A script by id alone, for the API: found only through one of the user's memberships."""
    try:
        pk = int(script_id)
    except (TypeError, ValueError):
        raise Http404("No such script.") from None
    project_id = (
        Script.objects.filter(pk=pk, project__memberships__user=user)
        .values_list("project_id", flat=True)
        .first()
        if getattr(user, "is_authenticated", False)
        else None
    )
    if project_id is None:
        raise Http404("No such script.")
    return script_get(user, project_id, pk)


def versions_of(script: Script) -> QuerySet[ScriptVersion]:
    return script.versions.select_related("created_by", "parent").order_by("-number")


def version_get(script: Script, number: int | str) -> ScriptVersion:
    try:
        value = int(number)
    except (TypeError, ValueError):
        raise Http404("No such version.") from None
    version = script.versions.filter(number=value).select_related("created_by").first()
    if version is None:
        raise Http404("No such version.")
    return version


def personas_for_project(
    user: Any, project_id: int | str
) -> tuple[Project, Membership, QuerySet[Persona]]:
    project, membership = project_for_user(user, project_id)
    return project, membership, Persona.objects.filter(project=project)


def persona_get(
    user: Any, project_id: int | str, persona_id: int | str, minimum: str = Role.VIEWER
) -> tuple[Persona, Membership]:
    project, membership = project_for_user(user, project_id, minimum=minimum)
    try:
        pk = int(persona_id)
    except (TypeError, ValueError):
        raise Http404("No such persona.") from None
    persona = Persona.objects.filter(project=project, pk=pk).first()
    if persona is None:
        raise Http404("No such persona.")
    return persona, membership


def live_runs_of(scripts: Iterable[Script]) -> dict[int, Run]:
    """The active run writing each script that is being written (one query)."""
    by_run = {
        script.last_run_id: script.pk
        for script in scripts
        if script.status == ScriptStatus.GENERATING and script.last_run_id
    }
    if not by_run:
        return {}
    runs = Run.objects.filter(pk__in=list(by_run), status__in=ACTIVE_STATUSES)
    return {by_run[run.pk]: run for run in runs}


def scripts_page(
    user: Any, project_id: int | str, *, query: str, page: int, page_size: int
) -> tuple[list[Script], int]:
    """One page of a project's scripts, newest first, matching ``query`` in the title or the
    topic; and how many match in all."""
    project, _ = project_for_user(user, project_id)
    scripts = Script.objects.filter(project=project).select_related(
        "template", "created_by", "current_version"
    )
    query = query.strip()
    if query:
        scripts = scripts.filter(Q(title__icontains=query) | Q(topic__icontains=query))
    total = scripts.count()
    start = (page - 1) * page_size
    return list(scripts.order_by("-created_at", "-id")[start : start + page_size]), total


def run_notice(script: Script, run_id: Any) -> dict[str, Any] | None:
    """The notice of the run of ``script`` that wrote a version (why it did not go as chosen),
    read within the script's project; None when it went as chosen."""
    run = Run.objects.filter(pk=run_id, project_id=script.project_id).only("result").first()
    return run.notice if run is not None else None
