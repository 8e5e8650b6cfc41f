"""The membership rules, enforced by the services whatever the entry point."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from aura_site.projects import services
from aura_site.projects.models import Activity, Character, Membership, Project, Role

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _verbs(project: Project) -> list[str]:
    return list(Activity.objects.filter(project=project).values_list("verb", flat=True))


def test_creator_becomes_owner(make_user: Any) -> None:
    ada = make_user("ada")
    project = services.project_create(user=ada, name="  Harbour film ", description="pier")
    assert project.name == "Harbour film"
    assert Membership.objects.get(project=project).role == Role.OWNER
    assert _verbs(project) == ["created the project"]


def test_owner_adds_by_username_or_email(make_user: Any, make_project: Any) -> None:
    ada, ben, cy = make_user("ada"), make_user("ben"), make_user("cy")
    project = make_project(owner=ada)
    services.member_add(project=project, actor=ada, identifier="ben", role="editor")
    services.member_add(project=project, actor=ada, identifier="CY@example.com", role="viewer")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"ada": "owner", "ben": "editor", "cy": "viewer"}
    assert "added ben as editor" in _verbs(project)
    assert cy in project.members.all() and ben in project.members.all()


def test_adding_refuses_unknown_and_existing_members(make_user: Any, make_project: Any) -> None:
    ada, ben = make_user("ada"), make_user("ben")
    project = make_project(owner=ada)
    with pytest.raises(services.UnknownUserError) as unknown:
        services.member_add(project=project, actor=ada, identifier="ghost", role="viewer")
    assert unknown.value.field == "user"
    services.member_add(project=project, actor=ada, identifier="ben", role="viewer")
    with pytest.raises(services.AlreadyMemberError):
        services.member_add(project=project, actor=ada, identifier="ben", role="owner")
    assert Membership.objects.get(project=project, user=ben).role == Role.VIEWER


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_only_owners_manage_members(
    role: str, make_user: Any, make_project: Any, add_member: Any
) -> None:
    ada, ben, cy = make_user("ada"), make_user("ben"), make_user("cy")
    project = make_project(owner=ada)
    add_member(project, ben, role)
    target = add_member(project, cy, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        services.member_add(project=project, actor=ben, identifier="ada", role="viewer")
    with pytest.raises(PermissionDenied):
        services.member_set_role(project=project, actor=ben, membership=target, role="owner")
    with pytest.raises(PermissionDenied):
        services.member_remove(project=project, actor=ben, membership=target)
    with pytest.raises(PermissionDenied):
        services.project_delete(project=project, actor=ben)
    assert Project.objects.filter(pk=project.pk).exists()


def test_the_last_owner_can_neither_leave_nor_be_demoted(make_user: Any, make_project: Any) -> None:
    ada = make_user("ada")
    project = make_project(owner=ada)
    mine = Membership.objects.get(project=project, user=ada)
    with pytest.raises(services.LastOwnerError):
        services.member_leave(project=project, user=ada)
    with pytest.raises(services.LastOwnerError):
        services.member_set_role(project=project, actor=ada, membership=mine, role="editor")
    with pytest.raises(services.LastOwnerError):
        services.member_remove(project=project, actor=ada, membership=mine)
    assert Membership.objects.get(pk=mine.pk).role == Role.OWNER


def test_with_a_second_owner_an_owner_may_step_down_and_leave(
    make_user: Any, make_project: Any, add_member: Any
) -> None:
    ada, ben = make_user("ada"), make_user("ben")
    project = make_project(owner=ada)
    bens = add_member(project, ben, Role.EDITOR)
    services.member_set_role(project=project, actor=ada, membership=bens, role="owner")
    mine = Membership.objects.get(project=project, user=ada)
    services.member_set_role(project=project, actor=ada, membership=mine, role="editor")
    with pytest.raises(PermissionDenied):
        services.member_set_role(project=project, actor=ada, membership=mine, role="owner")
    services.member_leave(project=project, user=ada)
    assert list(project.members.values_list("username", flat=True)) == ["ben"]
    with pytest.raises(services.LastOwnerError):
        services.member_leave(project=project, user=ben)
    assert "ada left the project" in [f"{a.actor} {a.verb}" for a in project.activities.all()]


def test_anyone_may_leave(make_user: Any, make_project: Any, add_member: Any) -> None:
    ada, ben = make_user("ada"), make_user("ben")
    project = make_project(owner=ada)
    add_member(project, ben, Role.VIEWER)
    services.member_leave(project=project, user=ben)
    assert not Membership.objects.filter(project=project, user=ben).exists()


def test_world_items_need_an_editor(make_user: Any, make_project: Any, add_member: Any) -> None:
    ada, vic = make_user("ada"), make_user("vic")
    project = make_project(owner=ada)
    add_member(project, vic, Role.VIEWER)
    fields = {"name": "Mara", "description": "", "look": "oilskin", "voice": "low"}
    with pytest.raises(PermissionDenied):
        services.world_item_create(project=project, actor=vic, model=Character, fields=fields)
    item = services.world_item_create(project=project, actor=ada, model=Character, fields=fields)
    services.world_item_update(item=item, actor=ada, fields={"name": "Mara B."})
    with pytest.raises(PermissionDenied):
        services.world_item_delete(item=item, actor=vic)
    services.world_item_delete(item=item, actor=ada)
    assert _verbs(project)[:3] == [
        "deleted the character “Mara B.”",
        "edited the character “Mara B.”",
        "added the character “Mara”",
    ]


def test_deleting_a_project_removes_its_world(make_user: Any, make_project: Any) -> None:
    ada = make_user("ada")
    project = make_project(owner=ada)
    Character.objects.create(project=project, name="Mara")
    services.project_delete(project=project, actor=ada)
    assert not Project.objects.exists() and not Character.objects.exists()
