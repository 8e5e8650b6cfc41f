"""The live list of a project's clips: ``/ws/projects/<id>/videos/``.

Authorises in ``connect()`` (4401 anonymous, 4404 not a member), joins the project's group,
accepts last and sends the list as it stands; then, whenever the project's videos change (a
job starts, moves on, finishes), sends it again, at most a few times a second however many jobs
move at once.
"""

from __future__ import annotations

from django.http import Http404
from django.template.loader import render_to_string

from aura_site.projects.consumers import ProjectListConsumer
from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from videos.selectors import jobs_of


class VideoListConsumer(ProjectListConsumer):
    """Other products' progress is not shown here: this list shows only clips."""

    part = "videos"
    render_gap_seconds = 0.4

    def render(self) -> str | None:
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
