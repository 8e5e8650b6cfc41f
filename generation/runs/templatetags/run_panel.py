from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from generation.runs.fragments import Metrics, metrics_html
from generation.runs.models import Run

register = template.Library()


@register.simple_tag
def run_metrics(run: Run, m: Metrics, oob: bool = False) -> SafeString:
    """The run's metrics block (built by ``generation.runs.fragments.metrics_html``, which
    escapes every value)."""
    return mark_safe(metrics_html(run.dom_id, m, oob=oob))  # noqa: S308
