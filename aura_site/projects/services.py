"""Writes to projects, their members and their world, each leaving an Activity line.

Role checks are repeated here (not only in views) so that every entry point (pages, the API,
management code) enforces the same rules. Live updates are published after the transaction
commits (``aura_site.projects.live``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aura_site.projects import live
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

WorldModel = type[Series] | type[Character] | type[Location]


class ProjectRuleError(Exception):
    """A change the project's rules refuse; ``field`` names the input at fault, if any."""

    code = "conflict"
    status = 409

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class LastOwnerError(ProjectRuleError):
    code = "last_owner"


class AlreadyMemberError(ProjectRuleError):
    code = "already_member"


class UnknownUserError(ProjectRuleError):
    code = "unknown_user"
    status = 400


def _require(project: Project, actor: Any, minimum: str) -> Membership:
    membership = Membership.objects.filter(project=project, user=actor).first()
    if membership is None or not role_at_least(membership.role, minimum):
        raise PermissionDenied(f"This needs the {minimum} role in the project.")
    return membership


def _record(project: Project, actor: Any, verb: str) -> Activity:
    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
    return Activity.objects.create(project=project, actor=actor, verb=verb)


def _member_ids(project: Project) -> list[int]:
    return list(Membership.objects.filter(project=project).values_list("user_id", flat=True))


def _display(user: Any) -> str:
    return str(user.get_username())


@transaction.atomic
def project_create(*, user: Any, name: str, description: str = "") -> Project:
    project = Project.objects.create(
        name=name.strip(), description=description.strip(), created_by=user
    )
    Membership.objects.create(project=project, user=user, role=Role.OWNER, added_by=user)
    _record(project, user, "created the project")
    live.dashboards_changed([user.pk])
    return project


@transaction.atomic
def project_update(*, project: Project, actor: Any, name: str, description: str) -> Project:
    _require(project, actor, Role.EDITOR)
    project.name = name.strip()
    project.description = description.strip()
    project.save(update_fields=["name", "description", "updated_at"])
    _record(project, actor, "edited the project's details")
    live.project_changed(project.pk, ["header"])
    live.dashboards_changed(_member_ids(project))
    return project


@transaction.atomic
def project_delete(*, project: Project, actor: Any) -> None:
    _require(project, actor, Role.OWNER)
    member_ids = _member_ids(project)
    project_id = project.pk
    project.delete()
    live.project_deleted(project_id)
    live.dashboards_changed(member_ids)


def _find_user(identifier: str) -> Any:
    """The account with this username (exact, then any case) or email address."""
    User = get_user_model()
    value = identifier.strip()
    if not value:
        raise UnknownUserError("Enter a username or an email address.", field="user")
    user = User.objects.filter(username=value).first()
    if user is None:
        candidates = list(
            User.objects.filter(Q(username__iexact=value) | Q(email__iexact=value))[:2]
        )
        if len(candidates) == 1:
            user = candidates[0]
    if user is None:
        raise UnknownUserError(
            f"No one with the username or email “{value}” has an account.", field="user"
        )
    return user


@transaction.atomic
def member_add(*, project: Project, actor: Any, identifier: str, role: str) -> Membership:
    """Add an existing user (found by username or email) to the project with ``role``."""
    _require(project, actor, Role.OWNER)
    user = _find_user(identifier)
    if not user.is_active:
        raise UnknownUserError(f"The account “{identifier}” is inactive.", field="user")
    role = Role(role)
    if Membership.objects.filter(project=project, user=user).exists():
        raise AlreadyMemberError(f"{_display(user)} is already a member.", field="user")
    membership = Membership.objects.create(project=project, user=user, role=role, added_by=actor)
    _record(project, actor, f"added {_display(user)} as {role.label.lower()}")
    live.project_changed(project.pk, ["members"])
    live.dashboards_changed(_member_ids(project))
    return membership


def _lock_owners(project: Project) -> list[Membership]:
    return list(Membership.objects.select_for_update().filter(project=project, role=Role.OWNER))


@transaction.atomic
def member_set_role(
    *, project: Project, actor: Any, membership: Membership, role: str
) -> Membership:
    _require(project, actor, Role.OWNER)
    role = Role(role)
    owners = _lock_owners(project)
    membership.refresh_from_db()
    if membership.role == role:
        return membership
    if membership.role == Role.OWNER and len(owners) <= 1:
        raise LastOwnerError(
            "A project needs at least one owner: make someone else an owner first.", field="role"
        )
    membership.role = role
    membership.save(update_fields=["role"])
    _record(project, actor, f"changed {_display(membership.user)}'s role to {role.label.lower()}")
    live.project_changed(project.pk, ["members"])
    live.dashboards_changed(_member_ids(project))
    return membership


@transaction.atomic
def member_remove(*, project: Project, actor: Any, membership: Membership) -> None:
    """Remove a member: an owner removes anyone, anyone may remove themselves (leave)."""
    leaving = membership.user_id == actor.pk
    _require(project, actor, Role.VIEWER if leaving else Role.OWNER)
    owners = _lock_owners(project)
    membership.refresh_from_db()
    if membership.role == Role.OWNER and len(owners) <= 1:
        message = (
            "You are the last owner: make someone else an owner before leaving."
            if leaving
            else "A project needs at least one owner."
        )
        raise LastOwnerError(message)
    user = membership.user
    membership.delete()
    verb = "left the project" if leaving else f"removed {_display(user)}"
    _record(project, actor, verb)
    live.project_changed(project.pk, ["members"])
    live.dashboards_changed([*_member_ids(project), user.pk])


def member_leave(*, project: Project, user: Any) -> None:
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        raise PermissionDenied("You are not a member of this project.")
    member_remove(project=project, actor=user, membership=membership)


WORLD_PARTS: dict[type[Any], str] = {
    Series: "series",
    Character: "characters",
    Location: "locations",
}


def _world_label(model: WorldModel) -> str:
    return str(model._meta.verbose_name)


@transaction.atomic
def world_item_create(
    *, project: Project, actor: Any, model: WorldModel, fields: dict[str, Any]
) -> Series | Character | Location:
    """Create a Series, Character or Location in the project (editors and owners)."""
    _require(project, actor, Role.EDITOR)
    item = model(project=project, **fields)
    item.full_clean()
    item.save()
    _record(project, actor, f"added the {_world_label(model)} “{item.name}”")
    live.project_changed(project.pk, [WORLD_PARTS[model]])
    live.dashboards_changed(_member_ids(project))
    return item


@transaction.atomic
def world_item_update(
    *, item: Series | Character | Location, actor: Any, fields: dict[str, Any]
) -> Series | Character | Location:
    project = item.project
    _require(project, actor, Role.EDITOR)
    for name, value in fields.items():
        setattr(item, name, value)
    item.full_clean()
    item.save()
    _record(project, actor, f"edited the {_world_label(type(item))} “{item.name}”")
    live.project_changed(project.pk, [WORLD_PARTS[type(item)]])
    live.dashboards_changed(_member_ids(project))
    return item


@transaction.atomic
def world_item_delete(*, item: Series | Character | Location, actor: Any) -> None:
    project = item.project
    _require(project, actor, Role.EDITOR)
    name = item.name
    model = type(item)
    item.delete()
    _record(project, actor, f"deleted the {_world_label(model)} “{name}”")
    live.project_changed(project.pk, [WORLD_PARTS[model]])
    live.dashboards_changed(_member_ids(project))
