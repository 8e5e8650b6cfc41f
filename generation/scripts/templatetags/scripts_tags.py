from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from generation.scripts.live import with_live_status
from generation.scripts.models import Script

register = template.Library()


@register.simple_tag
def recent_scripts(project: Any, limit: int = 5) -> list[Script]:
    """The project's latest scripts. Only used where the page already authorised the project."""
    return with_live_status(Script.objects.filter(project=project).order_by("-updated_at")[:limit])


CLIP_PROMPT_LIMIT = 2000


@register.simple_tag
def section_clip_url(project_id: int, script_title: str, row: Any) -> str:
    """The videos page with a clip of one section filled in: the script's title and the
    section's words as the prompt, the section's reading time as the duration."""
    body = " ".join(str(row.body).split())
    prompt = f"{script_title} — {row.title}: {body}" if row.title else f"{script_title}: {body}"
    if len(prompt) > CLIP_PROMPT_LIMIT:
        prompt = prompt[: CLIP_PROMPT_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    seconds = max(1, round(float(row.seconds)))
    query = urlencode({"prompt": prompt, "duration_seconds": str(seconds)})
    return f"{reverse('videos:list', args=[project_id])}?{query}"
