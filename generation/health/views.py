"""The provider health page: every provider's state and figures for anyone signed in; the last
error's message, the circuit's reopen time and the listing check's detail for staff."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from aura_site.http import HtmxHttpRequest
from generation.health.selectors import providers_health

FAMILIES = (
    ("llm", "Language models", "Scripts and roundtables stream from these."),
    ("video", "Video providers", "Video jobs submit to and poll these."),
)


@require_GET
def provider_health_page(request: HtmxHttpRequest) -> HttpResponse:
    health = providers_health()
    groups = []
    for family, title, note in FAMILIES:
        items = [item for item in health if item.family == family]
        if items:
            set_up = [item for item in items if item.facts.configured]
            not_set_up = [item for item in items if not item.facts.configured]
            groups.append((family, title, note, set_up, not_set_up))
    context = {
        "groups": groups,
        "staff": request.user.is_staff,
        "now": timezone.now(),
    }
    template = "health/providers.html#providers" if request.htmx else "health/providers.html"
    return render(request, template, context)
