from __future__ import annotations

from typing import Any

from django import template

from videos.catalogue import VideoModel
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


@register.filter
def setup_needed(models: list[VideoModel]) -> list[dict[str, str]]:
    """The providers of ``models`` that are not set up, each once, in order, with what staff
    configure for it: the picker says it once per provider rather than on every model."""
    seen: dict[str, dict[str, str]] = {}
    for model in models:
        if not model.configured and model.provider not in seen:
            seen[model.provider] = {
                "provider": model.provider,
                "label": model.provider_label,
                "how": model.how_to_configure,
            }
    return list(seen.values())


@register.filter
def distinct_models(models: list[VideoModel]) -> list[VideoModel]:
    """``models`` without the entries that repeat one before them: a provider's own name (say
    ``runway``) stands for its default model, which the catalogue also lists by its full name;
    the picker shows it once, under the provider's name."""
    seen: set[tuple[str, str]] = set()
    shown = []
    for model in models:
        key = (model.provider, model.spec.provider_model or model.name)
        if key not in seen:
            seen.add(key)
            shown.append(model)
    return shown
