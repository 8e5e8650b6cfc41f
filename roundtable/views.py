"""Pages of the roundtable: a project's sessions, a new session (with its quote before Start),
a session live or afterwards, and its stored events for the replay."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aura_site.http import HtmxHttpRequest, redirect_to
from aura_site.projects.models import Membership, Project, Role
from aura_site.projects.selectors import project_for_user
from generation.chain.policy import providers_known
from generation.health.selectors import health_by_alias
from generation.runs.selectors import panel_context, run_events_after, run_snapshot
from generation.runs.services import RunLimitExceeded
from roundtable import chair as chair_services
from roundtable import selectors, versions
from roundtable.agents import AGENTS
from roundtable.forms import SessionForm
from roundtable.kind import CHAIR_EVENTS
from roundtable.norms import NORMS
from roundtable.services import Quote, session_prepare, session_start


def _provider_choices() -> list[tuple[str, str]]:
    from roundtable.kind import provider_choices

    return provider_choices()


def _form(project: Project, data: Any = None) -> SessionForm:
    return SessionForm(data, project=project, providers=_provider_choices())


def _context(project: Project, membership: Membership, form: SessionForm, **extra: Any) -> dict:
    return {
        "project": project,
        "membership": membership,
        "can_edit": membership.can(Role.EDITOR),
        "form": form,
        "agents": AGENTS,
        "norms": NORMS,
        "providers": providers_known(),
        "health_states": health_by_alias("llm"),
        **extra,
    }


def _quote_of(project: Project, user: Any, form: SessionForm) -> tuple[Quote | None, str]:
    if not form.is_valid():
        return None, ""
    try:
        prepared = session_prepare(user, project, form.request_body())
    except ValidationError as exc:
        return None, " ".join(" ".join(messages) for messages in exc.message_dict.values())
    return prepared.quote, ""


@require_GET
def session_list(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership, sessions = selectors.sessions_for_project(request.user, project_id)
    page = Paginator(sessions, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "roundtable/list.html",
        {
            "project": project,
            "membership": membership,
            "can_edit": membership.can(Role.EDITOR),
            "page": page,
        },
    )


@require_http_methods(["GET", "POST"])
def session_new(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = project_for_user(request.user, project_id, minimum=Role.EDITOR)
    if request.method != "POST":
        initial: dict[str, Any] = {"platform": "tiktok", "debate": "auto", "provider": "auto"}
        if request.GET.get("brief"):
            initial["brief"] = request.GET["brief"][:5000]
        form = SessionForm(initial=initial, project=project, providers=_provider_choices())
        return render(request, "roundtable/new.html", _context(project, membership, form))
    form = _form(project, request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                prepared = session_prepare(request.user, project, form.request_body())
                run = session_start(prepared)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        except RunLimitExceeded as exc:
            form.add_error(None, f"{exc.message} (try again in about {exc.retry_after} s)")
        else:
            return redirect_to(request, "roundtable:detail", project.pk, run.input["session_id"])
    context = _context(project, membership, form)
    template = "roundtable/new.html#session_form" if request.htmx else "roundtable/new.html"
    return render(request, template, context, status=200 if request.htmx else 400)


@require_POST
def session_quote(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The expected cost of the session the form describes (as the person types)."""
    project, _ = project_for_user(request.user, project_id, minimum=Role.EDITOR)
    form = _form(project, request.POST)
    quote, problem = _quote_of(project, request.user, form)
    return render(
        request,
        "roundtable/new.html#quote",
        {"quote": quote, "quote_problem": problem, "form": form},
    )


def versions_context(session: Any, membership: Membership) -> dict[str, Any]:
    """The re-runs section below a session's panel, as this member sees it."""
    groups = versions.versions_of(session.pk)
    current = versions.versions_current(session.pk)
    stale = versions.synthesis_stale(current)
    return {
        "token": versions.versions_token(session.pk),
        "stale": stale,
        "stale_labels": [versions.part_label(key) for key in stale],
        "busy": any(v.status == "running" for vs in groups.values() for v in vs),
    }


def rerun_live(session: Any, can_edit: bool) -> str:
    """The live panel of the session's re-run under way, or nothing."""
    from generation.runs.models import Run
    from roundtable.reruns import rerun_html

    latest = versions.latest_rerun(session.pk)
    if latest is None or not Run.objects.filter(pk=latest).first().is_active:  # type: ignore[union-attr]
        return ""
    return rerun_html(latest, can_edit)


def session_panel(session: Any, membership: Membership) -> dict[str, Any]:
    """The session's panel context as this member sees it: the run's, then (once it has ended)
    the current version of each part and the re-run controls."""
    can_edit = membership.can(Role.EDITOR)
    context = panel_context(run_snapshot(session.run_id), can_edit=can_edit)
    if context.get("rerun_url"):
        context["rerun_live"] = rerun_live(session, can_edit)
    return context


@require_GET
def session_detail(request: HtmxHttpRequest, project_id: int, session_id: int) -> HttpResponse:
    session, membership = selectors.session_get(request.user, project_id, session_id)
    context: dict[str, Any] = {
        "project": session.project,
        "membership": membership,
        "session": session,
        "can_edit": membership.can(Role.EDITOR),
    }
    context["versions"] = versions_context(session, membership)
    if session.run_id is not None:
        context["panel"] = session_panel(session, membership)
    return render(request, "roundtable/detail.html", context)


REPLAY_GAP_MS = 600
"""The pause the replay makes between the session and each re-run after it."""


def _replay_events(run: Any, start_ms: int) -> list[dict[str, Any]]:
    times: dict[int, Any] = dict(run.events.values_list("seq", "created_at"))
    start = min(times.values()) if times else None
    events = []
    for event in run_events_after(run.pk, 0):
        moment = times.get(event.seq)
        offset = int((moment - start).total_seconds() * 1000) if moment and start else 0
        item: dict[str, Any] = {
            "seq": event.seq,
            "event": event.event,
            "part": event.part,
            "data": event.data,
            "at_ms": start_ms + offset,
        }
        if event.event in CHAIR_EVENTS or event.event == "chair_check":
            item["html"] = _chair_line({"event": event.event, **event.data})
        events.append(item)
    return events


def _chair_line(item: dict[str, Any]) -> str:
    return render_to_string(
        "roundtable/panel.html#chair_item", {"item": chair_services.log_item(item)}
    )


@require_GET
def session_events(request: HtmxHttpRequest, project_id: int, session_id: int) -> JsonResponse:
    """The session's stored events, then each re-run's after it, for the replay (members only;
    no provider is called). A chair event carries its line of the chair's log (``html``); a
    re-run starts with a ``rerun`` item naming the parts it wrote again."""
    from roundtable.reruns import parts_of

    session, _ = selectors.session_get(request.user, project_id, session_id)
    if session.run is None or session.is_active:
        return JsonResponse({"events": [], "dom_id": ""})
    events = _replay_events(session.run, 0)
    for _, item, run in chair_services.rerun_items(session.pk):
        at = (events[-1]["at_ms"] if events else 0) + REPLAY_GAP_MS
        events.append(
            {
                "seq": 0,
                "event": "rerun",
                "part": item["part"],
                "data": {"parts": parts_of(item["part"]) if item["status"] == "succeeded" else []},
                "at_ms": at,
                "html": _chair_line(item),
            }
        )
        if item["status"] == "succeeded":
            events += [e for e in _replay_events(run, at) if e["event"] in REPLAYED]
    return JsonResponse({"events": events, "dom_id": session.run.dom_id})


REPLAYED = frozenset(
    {
        "agent_start",
        "agent_chunk",
        "agent_complete",
        "debate_chunk",
        "synthesis_chunk",
        "shots_chunk",
        "chair_check",
    }
)
"""The events of a re-run the replay shows (its own run, status and ending are not the
session's)."""


# ---- the chair ---------------------------------------------------------------------------


def _chair_reply(
    request: HtmxHttpRequest, session: Any, message: str, *, error: bool
) -> HttpResponse:
    """What a chair form gets back: for htmx, a line in the chair's status (the change itself
    reaches every page through the session's live view); otherwise back to the session."""
    if not request.htmx:
        if error:
            return HttpResponse(message, status=400, content_type="text/plain")
        return redirect_to(request, session)
    css = "message message-error" if error else "muted"
    return HttpResponse(
        render_to_string("roundtable/panel.html#chair_status", {"message": message, "css": css})
    )


def _chair_problem(exc: ValidationError) -> str:
    return " ".join(" ".join(messages) for messages in exc.message_dict.values())


def _editor_session(request: HtmxHttpRequest, project_id: int, session_id: int) -> Any:
    session, _ = selectors.session_get(request.user, project_id, session_id, Role.EDITOR)
    return session


@require_POST
def chair_note(request: HtmxHttpRequest, project_id: int, session_id: int) -> HttpResponse:
    session = _editor_session(request, project_id, session_id)
    try:
        with transaction.atomic():
            chair_services.chair_note_add(request.user, session, request.POST.get("text", ""))
    except ValidationError as exc:
        return _chair_reply(request, session, _chair_problem(exc), error=True)
    except chair_services.ChairClosed as exc:
        return _chair_reply(request, session, str(exc), error=True)
    return _chair_reply(request, session, "Note added.", error=False)


@require_POST
def chair_mark(request: HtmxHttpRequest, project_id: int, session_id: int) -> HttpResponse:
    session = _editor_session(request, project_id, session_id)
    kind = request.POST.get("kind", "")
    try:
        with transaction.atomic():
            chair_services.chair_mark_add(
                request.user,
                session,
                kind,
                request.POST.get("agent", ""),
                request.POST.get("point", ""),
            )
    except ValidationError as exc:
        return _chair_reply(request, session, _chair_problem(exc), error=True)
    except chair_services.ChairClosed as exc:
        return _chair_reply(request, session, str(exc), error=True)
    return _chair_reply(request, session, "Pinned." if kind == "pin" else "Vetoed.", error=False)


@require_POST
def chair_answer(request: HtmxHttpRequest, project_id: int, session_id: int) -> HttpResponse:
    session = _editor_session(request, project_id, session_id)
    choice = request.POST.get("choice", "")
    try:
        with transaction.atomic():
            chair_services.chair_answer(
                request.user,
                session,
                request.POST.get("request_id", ""),
                choice=choice,
                text="" if choice else request.POST.get("text", ""),
            )
    except ValidationError as exc:
        return _chair_reply(request, session, _chair_problem(exc), error=True)
    except chair_services.ChairClosed as exc:
        return _chair_reply(request, session, str(exc), error=True)
    return _chair_reply(request, session, "Answered: the session goes on.", error=False)


def _block_context(session: Any, membership: Membership) -> dict[str, Any]:
    run = session.run
    return {
        "run": run,
        "can_edit": membership.can(Role.EDITOR),
        "chair": chair_services.chair_view(run, session.pk),
    }


@require_GET
def chair_question(request: HtmxHttpRequest, project_id: int, session_id: int) -> HttpResponse:
    """One question as this member sees it (answer buttons for editors only)."""
    session, membership = selectors.session_get(request.user, project_id, session_id)
    if session.run is None:
        return HttpResponse("")
    question = session.questions.filter(request_id=_uuid(request.GET.get("request_id"))).first()
    if question is None:
        return HttpResponse("")
    context = _block_context(session, membership)
    context["question"] = chair_services.question_block(question)
    return render(request, "roundtable/panel.html#question", context)


@require_GET
def chair_points(request: HtmxHttpRequest, project_id: int, session_id: int) -> HttpResponse:
    """An agent's points as this member sees them (pin and veto for editors only)."""
    from roundtable.kind import card_chair

    session, membership = selectors.session_get(request.user, project_id, session_id)
    key = request.GET.get("agent", "")
    if session.run is None or key not in {agent.key for agent in AGENTS}:
        return HttpResponse("")
    context = _block_context(session, membership)
    part = session.run.parts.filter(key=key).first()
    context["card"] = {"key": key, **card_chair(session.run, context["chair"], key, part)}
    return render(request, "roundtable/panel.html#points", context)


def _uuid(value: Any) -> Any:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# ---- re-runs -------------------------------------------------------------------------------


@require_GET
def session_versions(request: HtmxHttpRequest, project_id: int, session_id: int) -> HttpResponse:
    """The versions section, when it changed since ``token`` (204 otherwise)."""
    session, membership = selectors.session_get(request.user, project_id, session_id)
    if request.GET.get("token") == versions.versions_token(session.pk):
        return HttpResponse(status=204)
    context: dict[str, Any] = {
        "project": session.project,
        "session": session,
        "can_edit": membership.can(Role.EDITOR),
        "versions": versions_context(session, membership),
    }
    if session.run_id is not None:
        # The whole live wrapper, so that a page that followed the session live loses its
        # socket's scope and a re-run's panel inside connects once.
        panel = session_panel(session, membership)
        context["panel_swap"] = render_to_string(
            "roundtable/panel.html#live", {**panel, "panel_oob": True}, request=request
        )
    return render(request, "roundtable/versions.html#versions", context)


@require_POST
def session_rerun(request: HtmxHttpRequest, project_id: int, session_id: int) -> HttpResponse:
    from roundtable.reruns import RerunBusy, rerun_prepare, rerun_start

    session = _editor_session(request, project_id, session_id)
    try:
        with transaction.atomic():
            prepared = rerun_prepare(
                request.user,
                session,
                request.POST.get("part", ""),
                provider=request.POST.get("provider", ""),
                note=request.POST.get("note", ""),
            )
            rerun_start(prepared)
    except ValidationError as exc:
        return _chair_reply(request, session, _chair_problem(exc), error=True)
    except (chair_services.ChairClosed, RerunBusy) as exc:
        return _chair_reply(request, session, str(exc), error=True)
    except RunLimitExceeded as exc:
        return _chair_reply(request, session, exc.message, error=True)
    return _chair_reply(request, session, "Re-run started.", error=False)
