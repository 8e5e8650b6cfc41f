"""Live pages through the real ASGI application: member lists and dashboards follow changes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from aura_site.asgi import application
from aura_site.projects import services
from aura_site.projects.models import Membership, Project, Role

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def connect(
    client_for: Callable[[Any], Client], ws_headers: Callable[[Client | None], Any]
) -> Callable[..., Any]:
    @asynccontextmanager
    async def open_socket(user: Any, path: str) -> AsyncIterator[WebsocketCommunicator]:
        client = await sync_to_async(client_for)(user)
        headers = await sync_to_async(ws_headers)(client)
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect()
        assert connected, code
        try:
            yield communicator
        finally:
            await communicator.disconnect()

    return open_socket


@pytest.fixture
async def team(make_user: Any, make_project: Any, add_member: Any) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        ada, vic, ben = make_user("ada"), make_user("vic"), make_user("ben")
        project = make_project(owner=ada, name="Harbour film")
        add_member(project, vic, Role.VIEWER)
        return {"ada": ada, "vic": vic, "ben": ben, "project": project}

    return await sync_to_async(build)()


async def _until(communicator: WebsocketCommunicator, needle: str) -> str:
    """The next message containing ``needle`` (earlier messages are other live updates)."""
    for _ in range(10):
        message = await communicator.receive_from(timeout=5)
        if needle in message:
            return message
    raise AssertionError(f"no message with {needle!r}")


async def test_member_list_and_dashboard_follow_an_invitation(
    team: dict[str, Any], connect: Callable[..., Any]
) -> None:
    project = team["project"]
    async with (
        connect(team["vic"], f"/ws/projects/{project.pk}/") as vic_page,
        connect(team["ben"], "/ws/dashboard/") as ben_dashboard,
    ):
        snapshot = await vic_page.receive_from()
        assert 'id="project-members"' in snapshot and "ben" not in snapshot
        empty = await ben_dashboard.receive_from()
        assert "Harbour film" not in empty and "No projects yet" in empty

        await sync_to_async(services.member_add)(
            project=project, actor=team["ada"], identifier="ben", role="editor"
        )

        members = await _until(vic_page, 'id="project-members"')
        assert 'hx-swap-oob="true"' in members
        assert 'data-username="ben"' in members
        assert 'id="project-activity"' in members and "added ben as editor" in members
        dashboard = await _until(ben_dashboard, 'id="dashboard-projects"')
        assert "Harbour film" in dashboard and 'hx-swap-oob="true"' in dashboard
        assert f'id="dashboard-project-{project.pk}"' in dashboard and "Editor" in dashboard

        await sync_to_async(services.member_remove)(
            project=project,
            actor=team["ada"],
            membership=await Membership.objects.aget(project=project, user=team["ben"]),
        )
        members = await _until(vic_page, 'id="project-members"')
        assert 'data-username="ben"' not in members
        dashboard = await _until(ben_dashboard, 'id="dashboard-projects"')
        assert "Harbour film" not in dashboard


async def test_a_page_post_pushes_to_other_viewers(
    team: dict[str, Any], connect: Callable[..., Any], client_for: Callable[[Any], Client]
) -> None:
    project = team["project"]
    ada_client = await sync_to_async(client_for)(team["ada"])
    async with connect(team["vic"], f"/ws/projects/{project.pk}/") as vic_page:
        await vic_page.receive_from()
        response = await sync_to_async(ada_client.post)(
            f"/projects/{project.pk}/characters/new/", {"name": "Mara <b>"}
        )
        assert response.status_code == 302
        fragment = await _until(vic_page, 'id="project-characters"')
        assert "Mara &lt;b&gt;" in fragment and "Mara <b>" not in fragment


async def test_a_removed_member_loses_the_page(
    team: dict[str, Any], connect: Callable[..., Any]
) -> None:
    project = team["project"]
    async with connect(team["vic"], f"/ws/projects/{project.pk}/") as vic_page:
        await vic_page.receive_from()
        membership = await Membership.objects.aget(project=project, user=team["vic"])
        await sync_to_async(services.member_remove)(
            project=project, actor=team["ada"], membership=membership
        )
        gone = await _until(vic_page, 'id="project-body"')
        assert "no longer a member" in gone and "Harbour film" not in gone
        assert await vic_page.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_a_role_change_rerenders_the_controls(
    team: dict[str, Any], connect: Callable[..., Any]
) -> None:
    project = team["project"]
    async with connect(team["vic"], f"/ws/projects/{project.pk}/") as vic_page:
        snapshot = await vic_page.receive_from()
        assert "/characters/new/" not in snapshot
        membership = await Membership.objects.aget(project=project, user=team["vic"])
        await sync_to_async(services.member_set_role)(
            project=project, actor=team["ada"], membership=membership, role="editor"
        )
        update = await _until(vic_page, 'id="project-characters"')
        assert "/characters/new/" in update, "an editor now sees the New buttons"
        assert 'id="project-member-invite"' in update


async def test_deleting_the_project_closes_its_pages(
    team: dict[str, Any], connect: Callable[..., Any]
) -> None:
    project = team["project"]
    async with (
        connect(team["vic"], f"/ws/projects/{project.pk}/") as vic_page,
        connect(team["vic"], "/ws/dashboard/") as vic_dashboard,
    ):
        await vic_page.receive_from()
        assert "Harbour film" in await vic_dashboard.receive_from()
        await sync_to_async(services.project_delete)(project=project, actor=team["ada"])
        gone = await _until(vic_page, 'id="project-body"')
        assert "deleted" in gone
        assert "Harbour film" not in await _until(vic_dashboard, 'id="dashboard-projects"')
    assert not await Project.objects.filter(pk=project.pk).aexists()


async def test_nothing_is_pushed_for_a_change_that_did_not_commit(
    team: dict[str, Any], connect: Callable[..., Any]
) -> None:
    project = team["project"]

    def add_then_roll_back() -> None:
        with transaction.atomic():
            services.member_add(project=project, actor=team["ada"], identifier="ben", role="viewer")
            transaction.set_rollback(True)

    async with (
        connect(team["vic"], f"/ws/projects/{project.pk}/") as vic_page,
        connect(team["ben"], "/ws/dashboard/") as ben_dashboard,
    ):
        await vic_page.receive_from()
        await ben_dashboard.receive_from()
        await sync_to_async(add_then_roll_back)()
        with pytest.raises(services.AlreadyMemberError):
            await sync_to_async(services.member_add)(
                project=project, actor=team["ada"], identifier="vic", role="viewer"
            )
        assert await vic_page.receive_nothing(timeout=0.3)
        assert await ben_dashboard.receive_nothing(timeout=0.3)
    assert not await Membership.objects.filter(user=team["ben"]).aexists()


async def test_a_budget_alert_appears_live_for_the_owner_only(team, connect):
    from decimal import Decimal

    from generation.costs.models import Budget
    from generation.costs.services import cost_record_create

    project = team["project"]
    await sync_to_async(Budget.objects.create)(
        scope=Budget.Scope.PROJECT, project=project, limit_usd=Decimal("1"), name="Harbour cap"
    )
    async with (
        connect(team["ada"], "/ws/dashboard/") as ada_dashboard,
        connect(team["ada"], f"/ws/projects/{project.pk}/") as ada_project,
        connect(team["vic"], f"/ws/projects/{project.pk}/") as vic_project,
    ):
        await ada_dashboard.receive_from()
        await ada_project.receive_from()
        await vic_project.receive_from()
        await sync_to_async(cost_record_create)(
            provider="openai",
            model="gpt-4o-mini",
            outcome="succeeded",
            cost=Decimal("0.5"),
            project_id=project.pk,
        )
        alert = "Budget “Harbour cap” is 50 % spent"
        assert alert in await _until(ada_dashboard, 'id="dashboard-notices"')
        assert alert in await _until(ada_project, 'id="project-alerts"')
        assert alert not in await _until(vic_project, 'id="project-alerts"')
