from __future__ import annotations

from typing import Any

from django import template

from generation.scripts.models import Script

register = template.Library()


@register.simple_tag
def recent_scripts(project: Any, limit: int = 5) -> list[Script]:
    """The project's latest scripts. Only used where the page already authorised the project."""
    return list(Script.objects.filter(project=project).order_by("-updated_at")[:limit])
