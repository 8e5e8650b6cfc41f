"""Reads of projects and their objects, always filtered by membership.

Every lookup of a project-scoped object goes through here: a user who is not a member gets
``Http404``, never the object; a member whose role is too low gets ``PermissionDenied``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from aura_site.projects.models import Membership, Project, Role, role_at_least


def projects_for_user(user: Any) -> QuerySet[Project]:
    if not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user).distinct()


def membership_get(user: Any, project_id: int | str) -> Membership:
    """The user's membership of the project, or ``Http404``."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("No such project.")
    try:
        pid = int(project_id)
    except (TypeError, ValueError):
        raise Http404("No such project.") from None
    membership = (
        Membership.objects.select_related("project").filter(project_id=pid, user=user).first()
    )
    if membership is None:
        raise Http404("No such project.")
    return membership


def project_for_user(
    user: Any, project_id: int | str, minimum: str = Role.VIEWER
) -> tuple[Project, Membership]:
    """The project and the user's membership, requiring at least ``minimum``."""
    membership = membership_get(user, project_id)
    if not role_at_least(membership.role, minimum):
        raise PermissionDenied(f"This needs the {minimum} role in the project.")
    return membership.project, membership
