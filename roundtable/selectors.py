"""Reads of roundtable sessions, always through the caller's project membership."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from aura_site.projects.models import Membership, Project, Role
from aura_site.projects.selectors import project_for_user
from roundtable.models import Session


def sessions_of(project: Project) -> QuerySet[Session]:
    return Session.objects.filter(project=project).select_related("created_by", "run")


def sessions_for_project(
    user: Any, project_id: int | str
) -> tuple[Project, Membership, QuerySet[Session]]:
    project, membership = project_for_user(user, project_id)
    return project, membership, sessions_of(project)


def session_get(
    user: Any, project_id: int | str, session_id: int | str, minimum: str = Role.VIEWER
) -> tuple[Session, Membership]:
    project, membership = project_for_user(user, project_id, minimum=minimum)
    try:
        pk = int(session_id)
    except (TypeError, ValueError):
        raise Http404("No such roundtable.") from None
    session = sessions_of(project).filter(pk=pk).first()
    if session is None:
        raise Http404("No such roundtable.")
    return session, membership


def session_get_any_project(user: Any, session_id: int | str) -> tuple[Session, Membership]:
    """A session by id alone (the API): found only through one of the caller's memberships."""
    try:
        pk = int(session_id)
    except (TypeError, ValueError):
        raise Http404("No such roundtable.") from None
    project_id = (
        Session.objects.filter(pk=pk, project__memberships__user=user)
        .values_list("project_id", flat=True)
        .first()
        if getattr(user, "is_authenticated", False)
        else None
    )
    if project_id is None:
        raise Http404("No such roundtable.")
    return session_get(user, project_id, pk)


def recent_sessions(project: Project, limit: int = 5) -> list[Session]:
    """A project's latest sessions (the page has authorised the project)."""
    return list(sessions_of(project)[:limit])
