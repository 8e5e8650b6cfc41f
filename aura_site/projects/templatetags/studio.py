from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from aura_site.money import format_estimate, format_price, format_usd

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
