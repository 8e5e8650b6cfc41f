from __future__ import annotations

from typing import Any

from django import template

from roundtable.models import Session
from roundtable.selectors import recent_sessions

register = template.Library()


@register.simple_tag
def recent_roundtables(project: Any, limit: int = 5) -> list[Session]:
    """The project's latest sessions. Only used where the page already authorised the project."""
    return recent_sessions(project, limit)
