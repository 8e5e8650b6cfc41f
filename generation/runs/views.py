"""Pages of runs: the minimal script page of a project and the live page of a run."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from generation.runs import fragments
from generation.runs.forms import ScriptStartForm
from generation.runs.models import Run
from generation.runs.selectors import run_for_user, run_snapshot, runs_for_project
from generation.runs.services import (
    NoProviderAvailable,
    RunLimitExceeded,
    run_cancel,
    script_run_start,
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def live_context(run: Run, *, can_edit: bool) -> dict[str, object]:
    snapshot = run_snapshot(run.pk)
    return fragments.panel_context(
        snapshot.run,
        text=snapshot.text,
        switches=snapshot.switches,
        stage=fragments.stage_label(snapshot.stage, snapshot.stage_message),
        can_edit=can_edit,
    )


@require_http_methods(["GET", "POST"])
def script_page(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, _ = project_for_user(request.user, project_id)
    form = ScriptStartForm(request.POST or None)
    context: dict[str, object] = {
        "project": project,
        "form": form,
        "recent": runs_for_project(project),
    }
    if request.method == "POST":
        project_for_user(request.user, project_id, minimum=Role.EDITOR)
        if form.is_valid():
            try:
                run = script_run_start(request.user, form.request_body(project.pk))
            except RunLimitExceeded as exc:
                context["limit_message"] = f"{exc.message} (try again in about {exc.retry_after} s)"
            except NoProviderAvailable as exc:
                form.add_error("provider", str(exc))
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, messages)
            else:
                if not request.htmx:
                    return redirect("runs:detail", run_id=run.pk)
                live = live_context(run, can_edit=True)
                response = HttpResponse(
                    render_to_string(
                        "runs/script_page.html#start_form",
                        {**context, "form": ScriptStartForm()},
                        request=request,
                    )
                    + '<div id="run-slot" hx-swap-oob="innerHTML">'
                    + fragments.render_live(live)
                    + "</div>"
                )
                response["HX-Push-Url"] = run.get_absolute_url()
                return response
        if request.htmx:
            return render(request, "runs/script_page.html#start_form", context)
    return render(request, "runs/script_page.html", context)


def run_page(request: HttpRequest, run_id: str) -> HttpResponse:
    run, membership = run_for_user(request.user, run_id)
    context = live_context(run, can_edit=membership.can(Role.EDITOR))
    return render(request, "runs/run_page.html", context)


@require_POST
async def run_cancel_page(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    user = await request.auser()
    run = await run_cancel(user, run_id, wait=0)
    if not request.htmx:
        return redirect("runs:detail", run_id=run.pk)
    note = "Cancelling…" if run.is_active else f"This run has ended ({run.get_status_display()})."
    return HttpResponse(fragments.render_notice(run, note))
