"""Pages of runs: the live page of a run of any kind, and Cancel."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from aura_site.http import HtmxHttpRequest
from aura_site.projects.models import Role
from generation.runs import fragments
from generation.runs.selectors import panel_context, panel_template, run_for_user, run_snapshot
from generation.runs.services import run_cancel


@require_GET
def run_page(request: HttpRequest, run_id: str) -> HttpResponse:
    run, membership = run_for_user(request.user, run_id)
    snapshot = run_snapshot(run.pk)
    context = panel_context(snapshot, can_edit=membership.can(Role.EDITOR))
    context["live_template"] = f"{panel_template(snapshot)}#live"
    return render(request, "runs/run_page.html", context)


@require_POST
async def run_cancel_page(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    user = await request.auser()
    run = await run_cancel(user, run_id, wait=0)
    if not request.htmx:
        return redirect("runs:detail", run_id=run.pk)
    note = "Cancelling…" if run.is_active else f"This run has ended ({run.get_status_display()})."
    return HttpResponse(fragments.render_notice(run, note))
