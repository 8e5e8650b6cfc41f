from __future__ import annotations

from typing import Any

from django import template

from videos.models import VideoJob
from videos.selectors import recent_jobs

register = template.Library()


@register.simple_tag
def recent_video_jobs(project: Any, limit: int = 5) -> list[VideoJob]:
    """The project's latest jobs. Only used where the page already authorised the project."""
    return recent_jobs(project, limit)


@register.filter
def duration_ms(value: object) -> str:
    """``850 ms``, ``12.4 s``, ``3 min 5 s``: a processing time for people."""
    try:
        ms = int(str(value))
    except (TypeError, ValueError):
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"
