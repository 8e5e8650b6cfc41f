"""Pages of the script generator. Every object is read through a membership-filtered selector:
viewers read, editors and owners write."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aura_site.http import HtmxHttpRequest, redirect_to
from aura_site.problems import Problem
from aura_site.projects.models import Membership, Project, Role
from aura_site.projects.selectors import project_for_user
from generation.chain.policy import providers_known
from generation.health.selectors import health_by_alias
from generation.scripts import selectors, services
from generation.scripts.constants import (
    DELIVERY_STYLES,
    KEY_POINT_MAX_CHARS,
    MAX_KEY_POINTS,
    PLATFORMS,
    TONE_SUGGESTIONS,
    TOPIC_MAX_CHARS,
)
from generation.scripts.diff import diff_versions
from generation.scripts.exports import FORMAT_LABELS, FORMATS, script_export
from generation.scripts.forms import (
    PRIORITY_CHOICES,
    CompareForm,
    EditForm,
    PersonaForm,
    ProviderChoiceForm,
    ScriptForm,
    key_points_from,
)
from generation.scripts.guidance import Guidance
from generation.scripts.launch import (
    GenerationRefused,
    guidance_for,
    provider_cards,
    script_generate,
)
from generation.scripts.live import LIST_PAGE_SIZE, with_live_status
from generation.scripts.models import Script, ScriptStatus, ScriptVersion
from generation.scripts.prompt import section_plan
from generation.scripts.timing import clock, timing_table, total_seconds


def _can_edit(membership: Membership) -> bool:
    return membership.can(Role.EDITOR)


# ---------------------------------------------------------------------------------------------
# History


@require_GET
def script_list(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    project, membership, scripts = selectors.scripts_for_project(request.user, project_id, query)
    page = Paginator(scripts, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = with_live_status(page.object_list)
    context = {
        "project": project,
        "membership": membership,
        "can_edit": _can_edit(membership),
        "page": page,
        "query": query,
    }
    if request.htmx and request.htmx.target == "script-results":
        return render(request, "scripts/list.html#results", context)
    return render(request, "scripts/list.html", context)


# ---------------------------------------------------------------------------------------------
# The generator form


def _form_context(
    project: Project, membership: Membership, form: ScriptForm, cards: list[Any]
) -> dict[str, Any]:
    return {
        "project": project,
        "membership": membership,
        "form": form,
        "cards": cards,
        "health_states": health_by_alias("llm"),
        "priorities": PRIORITY_CHOICES,
        "tones": TONE_SUGGESTIONS,
        "platforms": PLATFORMS,
        "deliveries": DELIVERY_STYLES,
        "max_key_points": MAX_KEY_POINTS,
        "key_point_max_chars": KEY_POINT_MAX_CHARS,
    }


def _prefill(request: HtmxHttpRequest) -> dict[str, Any]:
    """What a link into the generator fills in (a roundtable's shot or synthesis, a template):
    ``topic``, ``platform``, ``duration_seconds``, ``template``; key points come as ``kp``."""
    initial: dict[str, Any] = {}
    for name, limit in (("template", 80), ("topic", TOPIC_MAX_CHARS), ("platform", 40)):
        value = request.GET.get(name, "").strip()
        if value:
            initial[name] = value[:limit]
    duration = request.GET.get("duration_seconds", "")
    if duration.isdigit():
        initial["duration_seconds"] = int(duration)
    return initial


def _guidance_problems(form: ScriptForm, guide: Guidance) -> list[Problem]:
    """The guidance marked "fix" as the error summary lists it (key points' rows marked)."""
    anchors = {"key_points": "#key-points", "provider": "#row-provider"}
    problems = []
    for note in guide.blocking:
        if note.item is not None:
            form.key_point_invalid.add(note.item)
            href = f"#kp-text-{note.item}"
        else:
            href = anchors.get(note.field, f"#row-id_{note.field}")
        label = "Key points" if note.field == "key_points" else str(form[note.field].label)
        problems.append(Problem(note.message, label, href))
    return problems


@require_http_methods(["GET", "POST"])
def script_new(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = project_for_user(request.user, project_id, minimum=Role.EDITOR)
    cards = provider_cards(for_user=request.user)
    infos = [card.info for card in cards]
    problems: list[Problem] = []
    if request.method == "POST":
        form = ScriptForm(request.POST, project=project, providers=infos)
        if form.is_valid():
            guide = guidance_for(request.POST, form.key_points, project, request.user)
            if guide.blocking and not form.cleaned_data.get("start_anyway"):
                problems = _guidance_problems(form, guide)
            else:
                try:
                    with transaction.atomic():
                        script = services.script_create(
                            project=project, user=request.user, cleaned=form.cleaned_input
                        )
                        script_generate(
                            user=request.user,
                            script=script,
                            provider=form.cleaned_data["provider"],
                            model=form.cleaned_data.get("model") or "",
                            max_cost_usd=form.cleaned_data.get("max_cost_usd"),
                        )
                except GenerationRefused as exc:
                    form.add_error(exc.field, exc.message)
                else:
                    url = script.get_absolute_url()
                    if not form.cleaned_data.get("streaming"):
                        url += "?streaming=off"
                    return redirect_to(request, url)
        status = 400
    else:
        form = ScriptForm(project=project, providers=infos, initial=_prefill(request))
        points = [
            {"text": " ".join(text.split())[:KEY_POINT_MAX_CHARS], "priority": "must"}
            for text in request.GET.getlist("kp")[:MAX_KEY_POINTS]
            if text.strip()
        ]
        if points:
            form.key_points = points
        status = 200
    context = _form_context(project, membership, form, cards)
    context["problems"] = problems
    context["blocked"] = bool(problems)
    if request.htmx and request.method == "POST":
        # htmx swaps only successful responses: the form with its errors comes back as a 200.
        return render(request, "scripts/new.html#script_form", context)
    return render(request, "scripts/new.html", context, status=status)


@require_POST
def script_guidance(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, _ = project_for_user(request.user, project_id, minimum=Role.EDITOR)
    guide = guidance_for(request.POST, key_points_from(request.POST), project, request.user)
    context = {
        "guide": guide,
        "project": project,
        "anyway_checked": bool(request.POST.get("start_anyway")),
    }
    return render(request, "scripts/new.html#guidance", context)


# ---------------------------------------------------------------------------------------------
# A script


def _script_context(
    request: HtmxHttpRequest, script: Script, membership: Membership, version: ScriptVersion | None
) -> dict[str, Any]:
    versions = list(selectors.versions_of(script))
    plan = section_plan(script.brief)
    rows = timing_table(version.text, script.words_per_minute, plan) if version else []
    run_context = None
    if script.last_run_id and script.status == ScriptStatus.GENERATING:
        from generation.scripts.launch import run_panel_context

        run_context = run_panel_context(script.last_run_id, membership)
    unfinished = [v for v in versions if not v.complete]
    notice = None
    if version is not None and version.run_id and run_context is None and not request.htmx:
        # An htmx refresh comes after the run ends on a page whose run panel says it already.
        notice = selectors.run_notice(script, version.run_id)
    return {
        "route_notice": notice,
        "project": script.project,
        "membership": membership,
        "can_edit": _can_edit(membership),
        "script": script,
        "version": version,
        "versions": versions,
        "rows": rows,
        "total_label": clock(total_seconds(rows)),
        "plan": plan,
        "report": version.validation if version else None,
        "run_panel": run_context,
        "streaming_off": request.GET.get("streaming") == "off",
        "provider_form": ProviderChoiceForm(providers=providers_known()),
        "compare_form": CompareForm(
            initial={
                "a": versions[1].number if len(versions) > 1 else None,
                "b": versions[0].number if versions else None,
            }
        ),
        "unfinished": unfinished,
        "formats": FORMAT_LABELS.items(),
        # The saved text's sections offer "Make a clip" to editors.
        "clip": {"project_id": script.project_id, "title": script.title}
        if _can_edit(membership)
        else None,
    }


@require_GET
def script_detail(request: HtmxHttpRequest, project_id: int, script_id: int) -> HttpResponse:
    script, membership = selectors.script_get(request.user, project_id, script_id)
    number = request.GET.get("v")
    version = selectors.version_get(script, number) if number else script.current_version
    context = _script_context(request, script, membership, version)
    if request.htmx and request.htmx.target == "script-view":
        return render(request, "scripts/detail.html#script_view", context)
    return render(request, "scripts/detail.html", context)


def _start_from_page(
    request: HtmxHttpRequest, script: Script, continue_version: int | None
) -> HttpResponse:
    form = ProviderChoiceForm(request.POST, providers=providers_known())
    if not form.is_valid():
        messages.error(request, "Choose a provider from the list.")
        return redirect_to(request, script.get_absolute_url())
    try:
        script_generate(
            user=request.user,
            script=script,
            provider=form.cleaned_data["provider"],
            model=form.cleaned_data.get("model") or "",
            continue_version=continue_version,
        )
    except GenerationRefused as exc:
        messages.error(request, exc.message)
    return redirect_to(request, script.get_absolute_url())


@require_POST
def script_regenerate(request: HtmxHttpRequest, project_id: int, script_id: int) -> HttpResponse:
    script, _ = selectors.script_get(request.user, project_id, script_id, minimum=Role.EDITOR)
    return _start_from_page(request, script, None)


@require_POST
def script_continue(
    request: HtmxHttpRequest, project_id: int, script_id: int, number: int
) -> HttpResponse:
    script, _ = selectors.script_get(request.user, project_id, script_id, minimum=Role.EDITOR)
    version = selectors.version_get(script, number)
    return _start_from_page(request, script, version.number)


@require_http_methods(["GET", "POST"])
def script_edit(request: HtmxHttpRequest, project_id: int, script_id: int) -> HttpResponse:
    script, membership = selectors.script_get(
        request.user, project_id, script_id, minimum=Role.EDITOR
    )
    base = script.current_version
    if request.GET.get("v"):
        base = selectors.version_get(script, request.GET["v"])
    if request.method == "POST":
        form = EditForm(request.POST)
        if form.is_valid():
            if form.cleaned_data.get("base"):
                base = selectors.version_get(script, form.cleaned_data["base"])
            try:
                version = services.script_edit(
                    script,
                    user=request.user,
                    text=form.cleaned_data["text"],
                    base=base,
                    note=form.cleaned_data.get("note") or "",
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, f"Saved as version {version.number}.")
                return redirect_to(request, script.get_absolute_url())
        status = 400
    else:
        form = EditForm(
            initial={"text": base.text if base else "", "base": base.number if base else None}
        )
        status = 200
    context = {
        "project": script.project,
        "membership": membership,
        "script": script,
        "base": base,
        "form": form,
        "plan": section_plan(script.brief),
    }
    return render(request, "scripts/edit.html", context, status=status)


@require_GET
def script_compare(request: HtmxHttpRequest, project_id: int, script_id: int) -> HttpResponse:
    script, membership = selectors.script_get(request.user, project_id, script_id)
    form = CompareForm(request.GET)
    context: dict[str, Any] = {
        "project": script.project,
        "membership": membership,
        "script": script,
        "form": form,
        "versions": list(selectors.versions_of(script)),
    }
    status = 200
    if form.is_valid():
        old = selectors.version_get(script, form.cleaned_data["a"])
        new = selectors.version_get(script, form.cleaned_data["b"])
        context.update({"old": old, "new": new, "diff": diff_versions(old.text, new.text)})
    else:
        status = 400
    return render(request, "scripts/compare.html", context, status=status)


@require_GET
def script_export_view(
    request: HtmxHttpRequest, project_id: int, script_id: int, number: int, fmt: str
) -> HttpResponse:
    script, _ = selectors.script_get(request.user, project_id, script_id)
    version = selectors.version_get(script, number)
    if fmt not in FORMATS:
        raise Http404("No such export format.")
    export = script_export(script, version, fmt)
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


# ---------------------------------------------------------------------------------------------
# Personas


@require_GET
def persona_list(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership, personas = selectors.personas_for_project(request.user, project_id)
    return render(
        request,
        "scripts/personas.html",
        {
            "project": project,
            "membership": membership,
            "can_edit": _can_edit(membership),
            "personas": personas,
        },
    )


def _persona_initial(persona: Any) -> dict[str, Any]:
    return {
        "name": persona.name,
        "voice": persona.voice,
        "audience": persona.audience,
        "do": "\n".join(persona.do),
        "dont": "\n".join(persona.dont),
    }


@require_http_methods(["GET", "POST"])
def persona_form(
    request: HtmxHttpRequest, project_id: int, persona_id: int | None = None
) -> HttpResponse:
    if persona_id is None:
        project, membership = project_for_user(request.user, project_id, minimum=Role.EDITOR)
        persona = None
    else:
        persona, membership = selectors.persona_get(
            request.user, project_id, persona_id, minimum=Role.EDITOR
        )
        project = persona.project
    if request.method == "POST":
        form = PersonaForm(request.POST)
        if form.is_valid():
            try:
                saved = services.persona_save(
                    project=project, user=request.user, data=form.cleaned_data, persona=persona
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, f"Persona “{saved.name}” saved.")
                return redirect_to(request, "scripts:personas", project.pk)
        status = 400
    else:
        form = PersonaForm(initial=_persona_initial(persona) if persona else None)
        status = 200
    return render(
        request,
        "scripts/persona_form.html",
        {"project": project, "membership": membership, "persona": persona, "form": form},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def persona_delete(request: HtmxHttpRequest, project_id: int, persona_id: int) -> HttpResponse:
    persona, membership = selectors.persona_get(
        request.user, project_id, persona_id, minimum=Role.EDITOR
    )
    project = persona.project
    if request.method == "POST":
        name = persona.name
        services.persona_delete(persona)
        messages.success(request, f"Persona “{name}” deleted.")
        return redirect_to(request, "scripts:personas", project.pk)
    return render(
        request,
        "scripts/persona_delete.html",
        {"project": project, "membership": membership, "persona": persona},
    )
