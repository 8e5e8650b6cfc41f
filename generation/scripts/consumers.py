"""The live list of a project's scripts: ``/ws/projects/<id>/scripts/``.

Authorises in ``connect()`` (4401 anonymous, 4404 not a member), joins the project's group,
accepts last and sends the first page of the list as it stands. Then a script that starts,
ends or changes re-renders the rows (at most a few times a second however many change at
once), and a script being written updates its status badge ("Writing, 40 %") from the
``project.progress`` messages its run sends about once a second.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.paginator import Paginator
from django.http import Http404
from django.template.loader import render_to_string

from aura_site.projects import live
from aura_site.projects.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from aura_site.projects.models import Role
from generation.scripts import selectors
from generation.scripts.live import LIST_PAGE_SIZE, PRODUCT, render_status, with_live_status

RENDER_GAP_SECONDS = 0.3


class ScriptListConsumer(AsyncWebsocketConsumer):
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
        if "scripts" in (event.get("parts") or ()) and self._pending is None:
            self._pending = asyncio.create_task(self._send_later())

    async def project_progress(self, event: dict[str, Any]) -> None:
        if event.get("product") == PRODUCT and isinstance(event.get("data"), dict):
            html = render_status(self.project_id, event["data"])
            if html:
                await self.send(text_data=html)

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
            project, membership, scripts = selectors.scripts_for_project(
                self.scope["user"], self.project_id
            )
        except Http404:
            return None
        page = Paginator(scripts, LIST_PAGE_SIZE).get_page(1)
        page.object_list = with_live_status(page.object_list)
        return render_to_string(
            "scripts/list.html#rows",
            {
                "project": project,
                "page": page,
                "query": "",
                "can_edit": membership.can(Role.EDITOR),
                "oob": True,
            },
        )
