"""The live list of a project's scripts: ``/ws/projects/<id>/scripts/``.

Authorises in ``connect()`` (4401 anonymous, 4404 not a member), joins the project's group,
accepts last and sends the first page of the list as it stands. Then a script that starts,
ends or changes re-renders the rows (at most a few times a second however many change at
once), and a script being written updates its status badge ("Writing, 40 %") from the
``project.progress`` messages its run sends about once a second.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import Http404
from django.template.loader import render_to_string

from aura_site.projects.consumers import ProjectListConsumer
from aura_site.projects.models import Role
from generation.scripts import selectors
from generation.scripts.live import LIST_PAGE_SIZE, PRODUCT, render_status, with_live_status


class ScriptListConsumer(ProjectListConsumer):
    part = "scripts"
    render_gap_seconds = 0.3

    async def project_progress(self, event: dict[str, Any]) -> None:
        if event.get("product") == PRODUCT and isinstance(event.get("data"), dict):
            html = render_status(self.project_id, event["data"])
            if html:
                await self.send(text_data=html)

    def render(self) -> str | None:
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
