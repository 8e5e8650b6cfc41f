"""Live project pages and dashboards.

``/ws/projects/<id>/`` follows one project for a member; ``/ws/dashboard/`` follows the person's
own dashboard. Both authorise in ``connect()`` (4401 anonymous, 4404 not a member), accept last,
send the current state as out-of-band fragments, then re-render on ``project.changed`` /
``dashboard.changed`` messages from ``aura_site.projects.live``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404

from aura_site.projects import live, selectors
from aura_site.projects.models import Membership, Project

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


def _csrf_token(scope: dict[str, Any]) -> str:
    cookies = scope.get("cookies") or {}
    return live.csrf_token_for(cookies.get(settings.CSRF_COOKIE_NAME))


class ProjectConsumer(AsyncWebsocketConsumer):
    project_id: int
    role: str

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        found = await self._membership()
        if found is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.role = found[1].role
        await self.channel_layer.group_add(live.project_group(self.project_id), self.channel_name)
        await self.accept()
        await self._send_parts(live.PROJECT_SNAPSHOT_PARTS)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "role"):
            await self.channel_layer.group_discard(
                live.project_group(self.project_id), self.channel_name
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page only listens; client messages are ignored."""

    async def project_changed(self, event: dict[str, Any]) -> None:
        await self._send_parts(event.get("parts") or live.PROJECT_SNAPSHOT_PARTS)

    async def project_progress(self, event: dict[str, Any]) -> None:
        html = live.render_progress(self.project_id, event)
        if html:
            await self.send(text_data=html)

    async def project_deleted(self, event: dict[str, Any]) -> None:
        await self.send(text_data=live.render_project_gone("This project was deleted."))
        await self.close(code=CLOSE_NOT_FOUND)

    async def _send_parts(self, parts: Any) -> None:
        html, still_member = await self._render(list(parts))
        await self.send(text_data=html)
        if not still_member:
            await self.close(code=CLOSE_NOT_FOUND)

    @database_sync_to_async
    def _membership(self) -> tuple[Project, Membership] | None:
        try:
            return selectors.project_for_user(self.scope["user"], self.project_id)
        except Http404:
            return None

    @database_sync_to_async
    def _render(self, parts: list[str]) -> tuple[str, bool]:
        try:
            project, membership = selectors.project_for_user(self.scope["user"], self.project_id)
        except Http404:
            return live.render_project_gone("You are no longer a member of this project."), False
        if membership.role != self.role:
            self.role = membership.role
            parts = list(live.PROJECT_PARTS)
        html = live.render_project_parts(
            project, membership, parts, csrf_token=_csrf_token(self.scope)
        )
        return html, True


class DashboardConsumer(AsyncWebsocketConsumer):
    user_id: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = int(user.pk)
        await self.channel_layer.group_add(live.user_group(self.user_id), self.channel_name)
        await self.accept()
        await self.send(text_data=await self._render())

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            await self.channel_layer.group_discard(live.user_group(self.user_id), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The dashboard only listens; client messages are ignored."""

    async def dashboard_changed(self, event: dict[str, Any]) -> None:
        await self.send(text_data=await self._render())

    @database_sync_to_async
    def _render(self) -> str:
        return live.render_dashboard_parts(self.scope["user"], csrf_token=_csrf_token(self.scope))


class ProjectListConsumer(AsyncWebsocketConsumer):
    """The live list of one product's items in a project (``/ws/projects/<id>/<product>/``).

    Authorises in ``connect()`` (4401 anonymous, 4404 not a member), joins the project's group,
    accepts last and sends the list as it stands; then, whenever the project's ``part`` changes,
    sends it again, at most once per ``render_gap_seconds`` however many items move at once. A
    product names its ``part`` and draws its list in ``render`` (``None``: not a member any more).
    """

    part = ""
    render_gap_seconds = 0.3
    project_id: int
    joined = False

    def render(self) -> str | None:
        raise NotImplementedError

    async def connect(self) -> None:
        self._pending: asyncio.Task[None] | None = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        html = await self._render()
        if html is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.channel_layer.group_add(live.project_group(self.project_id), self.channel_name)
        self.joined = True
        await self.accept()
        await self.send(text_data=html)

    async def disconnect(self, code: int) -> None:
        if self._pending is not None:
            self._pending.cancel()
        if self.joined:
            await self.channel_layer.group_discard(
                live.project_group(self.project_id), self.channel_name
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The list only listens; client messages are ignored."""

    async def project_changed(self, event: dict[str, Any]) -> None:
        if self.part in (event.get("parts") or ()) and self._pending is None:
            self._pending = asyncio.create_task(self._send_later())

    async def project_progress(self, event: dict[str, Any]) -> None:
        """A run's progress; a list that shows it re-draws the item's status."""

    async def project_deleted(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_NOT_FOUND)

    async def _send_later(self) -> None:
        await asyncio.sleep(self.render_gap_seconds)
        self._pending = None
        html = await self._render()
        if html is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send(text_data=html)

    async def _render(self) -> str | None:
        return await database_sync_to_async(self.render)()
