from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from aura_site.money import format_estimate, format_price, format_usd
from aura_site.problems import Problem
from aura_site.problems import form_problems as problems_of

register = template.Library()


def ago(value: datetime | None) -> str:
    """“just now”, “5 minutes ago”, “2 days ago”."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"


_WHEN_FALLBACKS = {
    "time": "%H:%M UTC",
    "seconds": "%H:%M:%S UTC",
    "datetime": "%-d %b %Y, %H:%M UTC",
    "date": "%-d %b %Y",
}


@register.simple_tag
def when(value: datetime | None, style: str = "datetime") -> str:
    """A moment as every page shows it: a ``<time>`` the studio's script writes in the viewer's
    own time zone (``time``: 20:39; ``seconds``: 20:39:05; ``datetime``: 3 Dec 2026, 20:39;
    ``date``: 3 Dec 2026; ``ago``: 5 minutes ago, with the local date and time on hover).
    Without the script a time reads in UTC and says so; a date alone is its UTC day."""
    if value is None:
        return ""
    if style not in (*_WHEN_FALLBACKS, "ago"):
        raise template.TemplateSyntaxError(f"when: unknown style {style!r}")
    moment = value.astimezone(UTC)
    text = ago(value) if style == "ago" else moment.strftime(_WHEN_FALLBACKS[style])
    return format_html(
        '<time datetime="{}" data-local="{}">{}</time>',
        moment.isoformat(timespec="seconds"),
        style,
        text,
    )


@register.filter
def usd(value: object) -> str:
    """Money for people (``aura_site.money.format_usd``)."""
    return format_usd(value)


@register.filter
def price(value: object) -> str:
    """A price or an expected cost: ``Free`` for zero (``aura_site.money.format_price``)."""
    return format_price(value)


@register.filter
def estimate(value: object) -> str:
    """An amount not yet reported by the provider: ``≈ $0.0123``."""
    return format_estimate(value)


@register.simple_tag
def form_problems(form: Any = None, extra: Iterable[Problem] | None = None) -> list[Problem]:
    """What a form's error summary lists (``aura_site.problems.form_problems``)."""
    return problems_of(form, extra)
