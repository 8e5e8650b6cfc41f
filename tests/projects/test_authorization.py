"""Who may do what: every project-scoped page, API route and WebSocket, for every kind of caller.

Anonymous callers are sent to the login page (pages), get 401 (API) or are refused (4401, WS); a
non-member gets 404 (4404 on the WebSocket); viewers read; editors also create and change; owners
also manage members and delete the project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from aura_site.accounts.tokens import token_create
from aura_site.asgi import application
from aura_site.projects.models import Character, Location, Membership, Project, Role, Series

ACTORS = ("anonymous", "outsider", "viewer", "editor", "owner")
RANK = {"viewer": 0, "editor": 1, "owner": 2}


@dataclass
class World:
    project: Project
    users: dict[str, Any]
    target: Membership
    items: dict[str, Any]


@pytest.fixture
def world(
    make_user: Callable[..., Any], make_project: Callable[..., Any], add_member: Any
) -> World:
    owner = make_user("olivia")
    project = make_project(owner=owner, name="Harbour film")
    users = {"owner": owner, "outsider": make_user("oscar")}
    for role in ("viewer", "editor"):
        users[role] = make_user(f"{role}-vic")
        add_member(project, users[role], role)
    target = add_member(project, make_user("tara"), Role.VIEWER)
    items = {
        "series": Series.objects.create(project=project, name="Weekly"),
        "characters": Character.objects.create(project=project, name="Mara"),
        "locations": Location.objects.create(project=project, name="Pier", mood="grey"),
    }
    return World(project, users, target, items)


@dataclass(frozen=True)
class PageCase:
    name: str
    method: str
    url: Callable[[World], str]
    minimum: str
    data: Callable[[World], dict[str, str]] = lambda w: {}


def _p(w: World) -> str:
    return f"/projects/{w.project.pk}"


PAGE_CASES = [
    PageCase("detail", "get", lambda w: f"{_p(w)}/", "viewer"),
    PageCase("edit form", "get", lambda w: f"{_p(w)}/edit/", "editor"),
    PageCase(
        "edit",
        "post",
        lambda w: f"{_p(w)}/edit/",
        "editor",
        lambda w: {"name": "Harbour film II", "description": "x"},
    ),
    PageCase("delete form", "get", lambda w: f"{_p(w)}/delete/", "owner"),
    PageCase(
        "delete",
        "post",
        lambda w: f"{_p(w)}/delete/",
        "owner",
        lambda w: {"confirm": w.project.name},
    ),
    PageCase("leave form", "get", lambda w: f"{_p(w)}/leave/", "viewer"),
    PageCase(
        "add member",
        "post",
        lambda w: f"{_p(w)}/members/",
        "owner",
        lambda w: {"user": "oscar", "role": "viewer"},
    ),
    PageCase(
        "change role",
        "post",
        lambda w: f"{_p(w)}/members/{w.target.pk}/role/",
        "owner",
        lambda w: {"role": "editor"},
    ),
    PageCase("remove member", "post", lambda w: f"{_p(w)}/members/{w.target.pk}/remove/", "owner"),
    PageCase("spend", "get", lambda w: f"{_p(w)}/spend/", "viewer"),
    PageCase("spend ledger CSV", "get", lambda w: f"{_p(w)}/spend/ledger.csv", "owner"),
]


def _world_url(kind: str, suffix: str) -> Callable[[World], str]:
    def url(w: World) -> str:
        return f"{_p(w)}/{kind}/" + suffix.format(item=w.items[kind].pk)

    return url


def _named(w: World) -> dict[str, str]:
    return {"name": "Renamed"}


for _kind in ("series", "characters", "locations"):
    PAGE_CASES += [
        PageCase(f"{_kind} list", "get", _world_url(_kind, ""), "viewer"),
        PageCase(f"{_kind} new form", "get", _world_url(_kind, "new/"), "editor"),
        PageCase(f"{_kind} create", "post", _world_url(_kind, "new/"), "editor", _named),
        PageCase(f"{_kind} edit form", "get", _world_url(_kind, "{item}/edit/"), "editor"),
        PageCase(f"{_kind} edit", "post", _world_url(_kind, "{item}/edit/"), "editor", _named),
        PageCase(f"{_kind} delete form", "get", _world_url(_kind, "{item}/delete/"), "editor"),
        PageCase(f"{_kind} delete", "post", _world_url(_kind, "{item}/delete/"), "editor"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("case", PAGE_CASES, ids=lambda c: c.name)
def test_project_pages(
    case: PageCase, actor: str, world: World, client_for: Callable[[Any], Client]
) -> None:
    client = client_for(world.users.get(actor))
    url = case.url(world)
    response = getattr(client, case.method)(url, case.data(world))
    if actor == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    elif actor == "outsider":
        assert response.status_code == 404
    elif RANK[actor] >= RANK[case.minimum]:
        assert response.status_code == (200 if case.method == "get" else 302), response.content[
            :400
        ]
    else:
        assert response.status_code == 403
        assert b"You can\xe2\x80\x99t do that here" in response.content


def test_every_project_url_is_in_the_matrix() -> None:
    from aura_site.projects.urls import urlpatterns

    names = {p.name for p in urlpatterns if "project_id" in str(p.pattern)}
    covered = {
        "detail",
        "edit",
        "delete",
        "leave",
        "member_add",
        "member_role",
        "member_remove",
        "world_list",
        "world_create",
        "world_edit",
        "world_delete",
    }
    assert names == covered


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ("anonymous", "outsider", "viewer"))
def test_denied_writes_change_nothing(
    actor: str, world: World, client_for: Callable[[Any], Client]
) -> None:
    client = client_for(world.users.get(actor))
    for case in PAGE_CASES:
        if case.method == "post":
            client.post(case.url(world), case.data(world))
    assert Project.objects.filter(pk=world.project.pk, name="Harbour film").exists()
    assert Membership.objects.filter(pk=world.target.pk, role=Role.VIEWER).exists()
    assert not Membership.objects.filter(user=world.users["outsider"]).exists()
    for kind, item in world.items.items():
        assert type(item).objects.filter(pk=item.pk, name=item.name).exists(), kind


# The API: bearer tokens for each caller.


API_CASES = [
    ("list projects", "get", lambda w: "/api/v1/projects", None, None),
    ("create project", "post", lambda w: "/api/v1/projects", lambda w: {"name": "New"}, None),
    (
        "add member",
        "post",
        lambda w: f"/api/v1/projects/{w.project.pk}/members",
        lambda w: {"username": "oscar", "role": "viewer"},
        "owner",
    ),
]


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("case", API_CASES, ids=lambda c: c[0])
def test_api_routes(case: tuple[Any, ...], actor: str, world: World) -> None:
    name, method, url, body, minimum = case
    client = Client()
    headers = {}
    if actor != "anonymous":
        _, raw = token_create(user=world.users[actor], name="matrix")
        headers["Authorization"] = f"Bearer {raw}"
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs.update(data=body(world), content_type="application/json")
    if actor == "outsider" and minimum is not None:
        kwargs["data"] = {"username": "tara", "role": "viewer"}
    response = getattr(client, method)(url(world), **kwargs)
    payload = response.json()
    if actor == "anonymous":
        assert response.status_code == 401
        assert payload["error"]["code"] == "unauthenticated"
    elif minimum is None:
        assert response.status_code in (200, 201)
        if name == "list projects":
            ids = [p["id"] for p in payload]
            assert (world.project.pk in ids) == (actor != "outsider")
    elif actor == "outsider":
        assert response.status_code == 404
        assert payload["error"]["code"] == "not_found"
    elif RANK[actor] >= RANK[minimum]:
        assert response.status_code == 201
    else:
        assert response.status_code == 403
        assert payload["error"]["code"] == "forbidden"


# The WebSocket.


async def _connect(
    path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[WebsocketCommunicator, bool, Any]:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, detail = await communicator.connect()
    return communicator, connected, detail


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actor", ACTORS)
async def test_project_websocket(
    actor: str, world: World, client_for: Callable[[Any], Client], ws_headers: Any
) -> None:
    from asgiref.sync import sync_to_async

    client = await sync_to_async(client_for)(world.users.get(actor))
    headers = await sync_to_async(ws_headers)(client if actor != "anonymous" else None)
    communicator, connected, detail = await _connect(f"/ws/projects/{world.project.pk}/", headers)
    try:
        if actor == "anonymous":
            assert (connected, detail) == (False, 4401)
        elif actor == "outsider":
            assert (connected, detail) == (False, 4404)
        else:
            assert connected
            snapshot = await communicator.receive_from()
            assert 'id="project-members"' in snapshot
            assert "tara" in snapshot
            assert ("/role/" in snapshot) == (actor == "owner")
            assert ('href="/projects/' in snapshot and "/edit/" in snapshot) == (
                actor in ("editor", "owner")
            )
    finally:
        await communicator.disconnect()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actor", ("anonymous", "outsider", "viewer"))
async def test_dashboard_websocket(
    actor: str, world: World, client_for: Callable[[Any], Client], ws_headers: Any
) -> None:
    from asgiref.sync import sync_to_async

    client = await sync_to_async(client_for)(world.users.get(actor))
    headers = await sync_to_async(ws_headers)(client if actor != "anonymous" else None)
    communicator, connected, detail = await _connect("/ws/dashboard/", headers)
    try:
        if actor == "anonymous":
            assert (connected, detail) == (False, 4401)
        else:
            assert connected
            snapshot = await communicator.receive_from()
            assert 'id="dashboard-projects"' in snapshot
            assert ("Harbour film" in snapshot) == (actor == "viewer")
    finally:
        await communicator.disconnect()


async def test_websocket_from_another_origin_is_refused() -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/dashboard/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected
