"""The world of a project through the API: series, characters and locations are read by members
and written by editors; a non-member gets 404, a viewer 403 on writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from aura_site.accounts.tokens import token_create
from aura_site.projects.models import Activity, Character, Location, Role, Series

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

KINDS: dict[str, tuple[Any, dict[str, str]]] = {
    "series": (Series, {"name": "Harbour diaries", "description": "Weekly"}),
    "characters": (
        Character,
        {"name": "Ada", "description": "Skipper", "look": "yellow coat", "voice": "dry"},
    ),
    "locations": (Location, {"name": "North pier", "description": "Windy", "mood": "grey"}),
}


class Caller:
    def __init__(self, user: Any) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token_create(user=user, name='t')[1]}"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        send = getattr(self.client, method)
        if body is None:
            return send(path, headers=self.headers)
        return send(path, body, content_type="application/json", headers=self.headers)


@pytest.fixture
def team(make_user: Any, make_project: Any, add_member: Any) -> dict[str, Any]:
    owner, editor, viewer, outsider = (make_user() for _ in range(4))
    project = make_project(owner=owner)
    add_member(project, editor, Role.EDITOR)
    add_member(project, viewer, Role.VIEWER)
    return {
        "project": project,
        "editor": Caller(editor),
        "viewer": Caller(viewer),
        "outsider": Caller(outsider),
        "editor_user": editor,
    }


@pytest.mark.parametrize("kind", list(KINDS))
def test_editors_create_read_change_and_delete(team: dict[str, Any], kind: str) -> None:
    model, fields = KINDS[kind]
    base = f"/api/v1/projects/{team['project'].pk}/{kind}"
    editor = team["editor"]

    created = editor.call("post", base, fields)
    assert created.status_code == 201, created.content
    body = created.json()
    assert {name: body[name] for name in fields} == fields
    assert body["project"] == team["project"].pk
    item = model.objects.get(pk=body["id"])
    assert item.project_id == team["project"].pk
    assert Activity.objects.filter(project=team["project"], actor=team["editor_user"]).exists()

    listed = team["viewer"].call("get", base)
    assert listed.status_code == 200
    assert [row["name"] for row in listed.json()] == [fields["name"]]
    one = team["viewer"].call("get", f"{base}/{item.pk}")
    assert one.status_code == 200 and one.json()["id"] == item.pk

    changed = editor.call("patch", f"{base}/{item.pk}", {"description": "Changed"})
    assert changed.status_code == 200, changed.content
    item.refresh_from_db()
    assert (item.description, item.name) == ("Changed", fields["name"])

    assert editor.call("delete", f"{base}/{item.pk}").status_code == 204
    assert not model.objects.filter(pk=item.pk).exists()
    assert editor.call("get", f"{base}/{item.pk}").status_code == 404


@pytest.mark.parametrize("kind", list(KINDS))
def test_viewers_cannot_write_and_strangers_see_nothing(team: dict[str, Any], kind: str) -> None:
    model, fields = KINDS[kind]
    item = model.objects.create(project=team["project"], **fields)
    base = f"/api/v1/projects/{team['project'].pk}/{kind}"

    viewer = team["viewer"]
    assert viewer.call("post", base, fields).status_code == 403
    assert viewer.call("patch", f"{base}/{item.pk}", {"name": "Mine"}).status_code == 403
    assert viewer.call("delete", f"{base}/{item.pk}").status_code == 403

    outsider = team["outsider"]
    for method, path, body in (
        ("get", base, None),
        ("get", f"{base}/{item.pk}", None),
        ("post", base, fields),
        ("patch", f"{base}/{item.pk}", {"name": "Mine"}),
        ("delete", f"{base}/{item.pk}", None),
    ):
        response = outsider.call(method, path, body)
        assert response.status_code == 404, (method, path)
        assert fields["name"] not in response.content.decode()

    item.refresh_from_db()
    assert item.name == fields["name"]
    assert model.objects.count() == 1


def test_an_item_of_another_project_is_not_found(
    team: dict[str, Any], make_project: Any, make_user: Any
) -> None:
    elsewhere = make_project(owner=make_user())
    theirs = Character.objects.create(project=elsewhere, name="Stranger")
    path = f"/api/v1/projects/{team['project'].pk}/characters/{theirs.pk}"
    assert team["editor"].call("get", path).status_code == 404
    assert team["editor"].call("delete", path).status_code == 404
    assert Character.objects.filter(pk=theirs.pk).exists()


def test_input_is_checked(team: dict[str, Any]) -> None:
    base = f"/api/v1/projects/{team['project'].pk}"
    editor = team["editor"]
    cases = [
        ("series", {"name": ""}, "name"),
        ("series", {"name": "x" * 121}, "name"),
        ("series", {"name": "Ok", "look": "a"}, "look"),
        ("characters", {"name": "Ok", "voice": "v" * 5001}, "voice"),
        ("locations", {"name": "Ok", "mood": "m" * 201}, "mood"),
    ]
    for kind, payload, field in cases:
        response = editor.call("post", f"{base}/{kind}", payload)
        assert response.status_code == 400, (kind, payload)
        assert field in [d["field"] for d in response.json()["error"]["details"]]
    assert not Series.objects.exists() and not Character.objects.exists()
    assert not Location.objects.exists()
