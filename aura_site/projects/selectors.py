"""Reads of projects and their objects, always filtered by membership.

Every lookup of a project-scoped object goes through here: a user who is not a member gets
``Http404``, never the object; a member whose role is too low gets ``PermissionDenied``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, QuerySet, Value, When
from django.http import Http404

from aura_site.projects.models import (
    Activity,
    Character,
    Location,
    Membership,
    Project,
    Role,
    Series,
    role_at_least,
)


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


def memberships_for_user(user: Any) -> QuerySet[Membership]:
    """The user's memberships with their projects, most recently active project first."""
    if not getattr(user, "is_authenticated", False):
        return Membership.objects.none()
    return (
        Membership.objects.filter(user=user)
        .select_related("project")
        .annotate(member_count=Count("project__memberships", distinct=True))
        .order_by("-project__updated_at", "-project_id")
    )


def activity_for_user(user: Any, limit: int = 20) -> list[Activity]:
    """Recent activity across every project the user belongs to."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(
        Activity.objects.filter(project__memberships__user=user)
        .select_related("actor", "project")
        .order_by("-created_at", "-id")[:limit]
    )


def project_activity(project: Project, limit: int = 15) -> list[Activity]:
    return list(project.activities.select_related("actor").order_by("-created_at", "-id")[:limit])


def project_members(project: Project) -> list[Membership]:
    """Members, owners first, then editors, then viewers; by username within a role."""
    order = Case(
        When(role=Role.OWNER, then=Value(0)),
        When(role=Role.EDITOR, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return list(project.memberships.select_related("user").order_by(order, "user__username"))


def owner_count(project: Project) -> int:
    return project.memberships.filter(role=Role.OWNER).count()


WORLD_MODELS: dict[str, type[Series] | type[Character] | type[Location]] = {
    "series": Series,
    "characters": Character,
    "locations": Location,
}


def world_items(project: Project, kind: str) -> QuerySet[Any]:
    return WORLD_MODELS[kind].objects.filter(project=project).order_by("name", "id")


def world_item_for_user(
    user: Any, project_id: int | str, kind: str, item_id: int | str, minimum: str = Role.VIEWER
) -> tuple[Any, Membership]:
    """A Series, Character or Location of a project the user belongs to, or ``Http404``."""
    project, membership = project_for_user(user, project_id, minimum)
    try:
        pk = int(item_id)
    except (TypeError, ValueError):
        raise Http404("No such item.") from None
    item = WORLD_MODELS[kind].objects.filter(project=project, pk=pk).first()
    if item is None:
        raise Http404("No such item.")
    item.project = project
    return item, membership


def membership_in_project(project: Project, membership_id: int | str) -> Membership:
    """Another member's membership of a project the caller already has access to."""
    try:
        pk = int(membership_id)
    except (TypeError, ValueError):
        raise Http404("No such member.") from None
    membership = project.memberships.select_related("user").filter(pk=pk).first()
    if membership is None:
        raise Http404("No such member.")
    return membership
