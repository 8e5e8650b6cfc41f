from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from aura_site.money import format_estimate, format_price, format_usd
from aura_site.problems import Problem
from aura_site.problems import form_problems as problems_of

register = template.Library()


@register.filter
def ago(value: datetime | None) -> str:
    """“just now”, “5 minutes ago”, “2 days ago”."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"


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
