"""The live list of a project's clips: ``/ws/projects/<id>/videos/``.

Authorises in ``connect()`` (4401 anonymous, 4404 not a member), joins the project's group,
accepts last and sends the list as it stands; then, whenever the project's videos change (a
job starts, moves on, finishes), sends it again, at most a few times a second however many jobs
move at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404
from django.template.loader import render_to_string

from aura_site.projects import live
from aura_site.projects.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from videos.selectors import jobs_of

RENDER_GAP_SECONDS = 0.4


class VideoListConsumer(AsyncWebsocketConsumer):
    project_id: int
    joined = False

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
        if "videos" in (event.get("parts") or ()) and self._pending is None:
            self._pending = asyncio.create_task(self._send_later())

    async def project_progress(self, event: dict[str, Any]) -> None:
        """Other products' progress: this list shows only clips."""

    async def project_deleted(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_NOT_FOUND)

    async def _send_later(self) -> None:
        await asyncio.sleep(RENDER_GAP_SECONDS)
        self._pending = None
        html = await self._render()
        if html is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send(text_data=html)

    @database_sync_to_async
    def _render(self) -> str | None:
        try:
            project, membership = project_for_user(self.scope["user"], self.project_id)
        except Http404:
            return None
        jobs = list(jobs_of(project)[:20])
        return render_to_string(
            "videos/list.html#jobs",
            {
                "project": project,
                "page": {"object_list": jobs},
                "can_edit": membership.can(Role.EDITOR),
                "oob": True,
            },
        )
