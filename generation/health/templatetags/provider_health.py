from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django import template
from django.utils.timesince import timesince

from generation.health.models import LATENCY_BOUNDS_MS
from generation.health.selectors import ProviderHealth

register = template.Library()


@register.inclusion_tag("health/badge.html")
def health_badge(states: Mapping[str, ProviderHealth] | None, alias: str) -> dict[str, Any]:
    """The state badge of provider ``alias`` from a picker's ``health_states`` (nothing when
    the provider is unknown there)."""
    return {"health": (states or {}).get(alias)}


@register.filter
def latency(ms: object) -> str:
    """``840 ms``, ``2.4 s``, ``≥ 120 s``: a latency for people (``—`` without one)."""
    if ms is None or ms == "":
        return "—"
    try:
        value = int(str(ms))
    except ValueError:
        return "—"
    if value >= LATENCY_BOUNDS_MS[-1]:
        return f"≥ {LATENCY_BOUNDS_MS[-1] // 1000} s"
    if value < 1000:
        return f"{value} ms"
    return f"{value / 1000:.1f} s"


@register.filter
def health_ago(when: datetime | None, now: datetime) -> str:
    """``just now``, ``40 s ago``, ``3 minutes ago``: how long before ``now`` ``when`` was."""
    if when is None:
        return ""
    seconds = (now - when).total_seconds()
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    return f"{timesince(when, now)} ago"


@register.simple_tag
def latency_pair(p50: int | None, p95: int | None) -> str:
    """``375 / 488 ms``, ``0.9 / 2.4 s``, ``450 ms / 2.4 s``: a median and a 95th percentile
    (``—`` without samples)."""
    if p50 is None or p95 is None:
        return "—"
    if p95 < 1000:
        return f"{p50} / {p95} ms"
    if p50 >= 1000 and p95 < LATENCY_BOUNDS_MS[-1]:
        return f"{p50 / 1000:.1f} / {p95 / 1000:.1f} s"
    return f"{latency(p50)} / {latency(p95)}"
