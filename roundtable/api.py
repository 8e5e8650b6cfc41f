"""Roundtable routes of the API (../shared/API.md §3 "Roundtables"): start a session and stream
it as SSE, start one and answer at once, read a session, list a project's sessions. A session
is cancelled through its run (``POST /api/v1/runs/{run_id}/cancel``)."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from pydantic import ConfigDict, Field, StringConstraints

from aura_site.api_errors import correlation_id, errors
from aura_site.api_types import Id, Money, PathId
from aura_site.money import plain
from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from generation.chain.api import ProviderName
from generation.runs.api import (
    RUN_EVENTS,
    QuoteOut,
    event_stream_response,
    quote_out,
    sse_response,
    start_prepared,
)
from generation.runs.models import Run, RunPart
from roundtable import chair as chair_services
from roundtable import selectors, versions
from roundtable.agents import AGENTS
from roundtable.models import Session
from roundtable.services import (
    BRIEF_MAX,
    BRIEF_MIN,
    DURATION_MAX,
    DURATION_MIN,
    SessionDraft,
    session_create_for,
    session_prepare,
)

router = Router(tags=["roundtables"])

Platform = Literal["tiktok", "instagram_reels", "youtube_shorts", "youtube"]
AgentKey = Literal["director", "cinematographer", "editor", "colorist", "platform_expert"]


class AgentChoice(Schema):
    model_config = ConfigDict(extra="forbid")

    provider: ProviderName = "auto"
    model: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None


class RoundtableRequest(Schema):
    """A roundtable session (API.md §3). Unknown fields, ids of another project and unknown
    agent keys are refused."""

    model_config = ConfigDict(extra="forbid")

    project: Id
    brief: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=BRIEF_MIN, max_length=BRIEF_MAX)
    ]
    platform: Platform
    duration_seconds: int | None = Field(None, ge=DURATION_MIN, le=DURATION_MAX)
    series: Id | None = None
    characters: list[Id] = Field(default_factory=list, max_length=50)
    locations: list[Id] = Field(default_factory=list, max_length=50)
    provider: ProviderName = "auto"
    agents: dict[AgentKey, AgentChoice] = Field(default_factory=dict)
    debate: Literal["auto", "always", "never"] = "auto"


class UsageOut(Schema):
    input_tokens: int
    output_tokens: int
    reported: bool


class AgentOut(Schema):
    key: str
    name: str
    status: str
    provider: str
    model: str
    text: str
    usage: UsageOut
    cost: Money
    error: dict[str, str] | None


class DebateOut(Schema):
    challenger: str | None
    responder: str | None
    topic: str | None
    messages: list[dict[str, str]]


class ShotsOut(Schema):
    raw: str
    list: list[dict[str, Any]]
    parsed: bool
    note: str


class SessionOut(Schema):
    id: int
    project: int
    run_id: str | None
    status: str
    brief: str
    platform: str
    duration_seconds: int
    debate_mode: str
    agents: list[AgentOut]
    debate: DebateOut
    synthesis: str
    shots: ShotsOut
    usage: UsageOut
    cost: Money
    expected_cost: Money
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    chair: ChairOut
    versions: dict[str, list[dict[str, Any]]]
    synthesis_stale: list[str]


class ChairOut(Schema):
    notes: list[dict[str, Any]]
    pins: list[dict[str, Any]]
    vetoes: list[dict[str, Any]]
    questions: list[dict[str, Any]]


class NoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=chair_services.NOTE_MAX),
    ]


class MarkIn(Schema):
    model_config = ConfigDict(extra="forbid")

    agent: AgentKey
    point: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=chair_services.POINT_MAX),
    ]


class AnswerIn(Schema):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    choice: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    text: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=1, max_length=chair_services.ANSWER_MAX
            ),
        ]
        | None
    ) = None


class RoundtableRunEvent(Schema):
    """``run`` of a session: its agents in order and the expected cost."""

    run_id: str
    kind: str
    session_id: int | None = None
    agents: list[str] = Field(default_factory=list)
    expected_cost: str


class StatusEvent(Schema):
    stage: str
    message: str = ""


class AgentStartEvent(Schema):
    agent: str
    name: str
    provider: str
    model: str


class AgentChunkEvent(Schema):
    agent: str
    content: str
    tokens: int
    cost: str


class AgentCompleteEvent(Schema):
    agent: str
    response: str
    usage: UsageOut
    cost: str


class AgentErrorEvent(Schema):
    agent: str
    code: str
    message: str
    text: str = ""


class DebateStartEvent(Schema):
    challenger: str
    responder: str
    topic: str


class FromEvent(Schema):
    model_config = ConfigDict(populate_by_name=True)

    from_agent: str = Field(alias="from")


class DebateChunkEvent(FromEvent):
    content: str


class DebateMessageEvent(FromEvent):
    to: str
    message: str


class ContentEvent(Schema):
    content: str


class SynthesisCompleteEvent(Schema):
    final_prompt: str


class ShotsCompleteEvent(Schema):
    suggested_shots: str
    shots: list[dict[str, Any]]
    parsed: bool


class RoundtableDoneEvent(Schema):
    run_id: str
    session_id: int | None = None
    usage: UsageOut | None = None
    cost: str
    costs: dict[str, str] = Field(default_factory=dict)
    duration_ms: int | None = None


ROUNDTABLE_EVENTS: dict[str, type[Schema]] = {
    **RUN_EVENTS,
    "run": RoundtableRunEvent,
    "status": StatusEvent,
    "agent_start": AgentStartEvent,
    "agent_chunk": AgentChunkEvent,
    "agent_complete": AgentCompleteEvent,
    "agent_error": AgentErrorEvent,
    "debate_start": DebateStartEvent,
    "debate_chunk": DebateChunkEvent,
    "debate_message": DebateMessageEvent,
    "synthesis_chunk": ContentEvent,
    "synthesis_complete": SynthesisCompleteEvent,
    "shots_chunk": ContentEvent,
    "shots_complete": ShotsCompleteEvent,
    "done": RoundtableDoneEvent,
}


class SessionStarted(Schema):
    id: int
    run_id: str
    status: str
    expected_cost: Money


def _caller(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _usage(source: Run | RunPart | None) -> dict[str, Any]:
    if source is None:
        return {"input_tokens": 0, "output_tokens": 0, "reported": False}
    return {
        "input_tokens": source.input_tokens,
        "output_tokens": source.output_tokens,
        "reported": source.usage_reported,
    }


def session_out(session: Session) -> dict[str, Any]:
    run = session.run
    parts = {part.key: part for part in run.parts.all()} if run else {}
    current = versions.versions_current(session.pk)
    agents = []
    for agent in AGENTS:
        part = parts.get(agent.key)
        newer = current.get(agent.key)
        if newer is not None and newer.number > 1:
            agents.append(
                {
                    "key": agent.key,
                    "name": agent.name,
                    "status": "succeeded",
                    "provider": newer.provider,
                    "model": newer.model,
                    "text": newer.text,
                    "usage": _usage(None),
                    "cost": newer.cost,
                    "error": None,
                }
            )
            continue
        agents.append(
            {
                "key": agent.key,
                "name": agent.name,
                "status": part.status if part else "waiting",
                "provider": part.provider if part else "",
                "model": part.model if part else "",
                "text": part.text if part else "",
                "usage": _usage(part),
                "cost": part.cost if part else Decimal("0"),
                "error": (
                    {"code": part.error_code, "message": part.error_message}
                    if part and part.error_code
                    else None
                ),
            }
        )
    judged = session.judgement or {}
    shots_part = parts.get("shots")
    return {
        "id": session.pk,
        "project": session.project_id,
        "run_id": str(session.run_id) if session.run_id else None,
        "status": session.status,
        "brief": session.brief,
        "platform": session.platform,
        "duration_seconds": session.duration_seconds,
        "debate_mode": session.debate_mode,
        "agents": agents,
        "debate": {
            "challenger": judged.get("challenger") if judged.get("debated") else None,
            "responder": judged.get("responder") if judged.get("debated") else None,
            "topic": judged.get("topic") if judged.get("debated") else None,
            "messages": session.debate,
        },
        "synthesis": session.synthesis,
        "shots": {
            "raw": session.shots_raw or (shots_part.text if shots_part else ""),
            "list": session.shots,
            "parsed": session.shots_parsed,
            "note": session.shots_note,
        },
        "usage": _usage(run),
        "cost": run.cost if run else session.cost,
        "expected_cost": session.expected_cost,
        "created_by": session.created_by.get_username() if session.created_by else None,
        "created_at": session.created_at,
        "finished_at": session.finished_at,
        "chair": chair_out(session),
        **versions_out(session),
    }


def versions_out(session: Session) -> dict[str, Any]:
    grouped = versions.versions_of(session.pk)
    return {
        "versions": {
            key: [
                {
                    "number": v.number,
                    "current": getattr(v, "is_current", False),
                    "status": v.status,
                    "asked_by": v.asked_by.get_username() if v.asked_by else None,
                    "created_at": v.created_at,
                    "provider": v.provider,
                    "model": v.model,
                    "cost": plain(v.cost),
                    "note": v.note,
                    "run_id": str(v.run_id) if v.run_id else None,
                    "text": v.text,
                    "based_on": v.based_on,
                }
                for v in rows
            ]
            for key, rows in grouped.items()
        },
        "synthesis_stale": versions.synthesis_stale(versions.versions_current(session.pk)),
    }


def chair_out(session: Session) -> dict[str, Any]:
    entries = [
        {"kind": e.kind, **chair_services.entry_event(e)[1]}
        for e in session.chair_entries.select_related("by")
    ]
    questions = []
    for question in session.questions.select_related("answered_by"):
        _, data, _ = chair_services.request_event(question)
        _, response, _ = chair_services.response_event(question)
        questions.append(
            {
                **data,
                "answer": None if question.is_open else response["answer"],
                "by": response["by"],
                "timed_out": question.timed_out,
            }
        )

    def of(kind: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "kind"} for e in entries if e["kind"] == kind]

    return {
        "notes": of("note"),
        "pins": of("pin"),
        "vetoes": of("veto"),
        "questions": questions,
    }


def _prepare(request: HttpRequest, body: RoundtableRequest) -> SessionDraft:
    user = _caller(request)
    data = body.model_dump()
    data["agents"] = {key: value for key, value in (data.get("agents") or {}).items()}
    project, _ = project_for_user(user, data["project"], minimum=Role.EDITOR)
    return session_prepare(user, project, data, correlation_id=correlation_id(request))


@router.post(
    "/roundtables/quote",
    response={200: QuoteOut, **errors(403, 404)},
    summary="What a roundtable session would cost",
)
async def roundtable_quote(request: HttpRequest, body: RoundtableRequest) -> Any:
    return quote_out((await sync_to_async(_prepare)(request, body)).draft)


async def _start(request: HttpRequest, body: RoundtableRequest) -> Run:
    return await start_prepared(functools.partial(_prepare, request, body), session_create_for)


@router.post(
    "/roundtables/stream",
    response={200: None, **errors(403, 404, 429)},
    summary="Start a roundtable session and stream it as server-sent events",
    openapi_extra=event_stream_response(ROUNDTABLE_EVENTS, "The session's events, as it runs."),
)
async def roundtable_stream(request: HttpRequest, body: RoundtableRequest) -> HttpResponseBase:
    run = await _start(request, body)
    return sse_response(run.pk, 0)


@router.post(
    "/roundtables",
    response={202: SessionStarted, **errors(403, 404, 429)},
    summary="Start a roundtable session",
)
async def roundtable_start(request: HttpRequest, body: RoundtableRequest) -> Any:
    run = await _start(request, body)
    session = await Session.objects.aget(run=run)
    return Status(
        202,
        {
            "id": session.pk,
            "run_id": str(run.pk),
            "status": session.status,
            "expected_cost": session.expected_cost,
        },
    )


def _session(user: Any, session_id: int) -> dict[str, Any]:
    session, _ = selectors.session_get_any_project(user, session_id)
    return session_out(session)


@router.get(
    "/roundtables/{session_id}",
    response={200: SessionOut, **errors(404)},
    summary="A roundtable session",
)
async def roundtable_detail(request: HttpRequest, session_id: PathId) -> Any:
    return await sync_to_async(_session)(_caller(request), session_id)


def _sessions(user: Any, project_id: int) -> list[dict[str, Any]]:
    _, _, sessions = selectors.sessions_for_project(user, project_id)
    return [
        session_out(session)
        for session in sessions.prefetch_related("run__parts").select_related("run")[:100]
    ]


@router.get(
    "/projects/{project_id}/roundtables",
    response={200: list[SessionOut], **errors(404)},
    summary="A project's roundtable sessions, newest first",
)
async def roundtable_list(request: HttpRequest, project_id: PathId) -> Any:
    return await sync_to_async(_sessions)(_caller(request), project_id)


# ---- the chair ------------------------------------------------------------------------------


class ChairDone(Schema):
    ok: bool


def _chair(user: Any, session_id: int, act: Any) -> dict[str, Any]:
    from django.db import transaction

    session, membership = selectors.session_get_any_project(user, session_id)
    if not membership.can(Role.EDITOR):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("Only editors and owners can take the chair.")
    try:
        with transaction.atomic():
            act(session)
    except chair_services.ChairClosed as exc:
        raise HttpError(409, str(exc)) from None
    session.refresh_from_db()
    return session_out(session)


@router.post(
    "/roundtables/{session_id}/notes",
    response={200: SessionOut, **errors(400, 403, 404, 409)},
    summary="Add a note to a live session (every prompt built after it takes it)",
)
async def roundtable_note(request: HttpRequest, session_id: PathId, body: NoteIn) -> Any:
    user = _caller(request)
    return await sync_to_async(_chair)(
        user, session_id, lambda s: chair_services.chair_note_add(user, s, body.text)
    )


def _mark(kind: str) -> Any:
    async def mark(request: HttpRequest, session_id: PathId, body: MarkIn) -> Any:
        user = _caller(request)
        return await sync_to_async(_chair)(
            user,
            session_id,
            lambda s: chair_services.chair_mark_add(user, s, kind, body.agent, body.point),
        )

    return mark


router.post(
    "/roundtables/{session_id}/pins",
    response={200: SessionOut, **errors(400, 403, 404, 409)},
    summary="Pin a point of an agent's analysis: the synthesis must keep it",
    operation_id="roundtable_pin",
)(_mark("pin"))
router.post(
    "/roundtables/{session_id}/vetoes",
    response={200: SessionOut, **errors(400, 403, 404, 409)},
    summary="Veto a point of an agent's analysis: the synthesis must not have it",
    operation_id="roundtable_veto",
)(_mark("veto"))


@router.post(
    "/roundtables/{session_id}/answer",
    response={200: SessionOut, **errors(400, 403, 404, 409)},
    summary="Answer an agent's question to the chair; the session resumes",
)
async def roundtable_answer(request: HttpRequest, session_id: PathId, body: AnswerIn) -> Any:
    user = _caller(request)
    return await sync_to_async(_chair)(
        user,
        session_id,
        lambda s: chair_services.chair_answer(
            user, s, body.request_id, choice=body.choice or "", text=body.text or ""
        ),
    )


# ---- re-runs --------------------------------------------------------------------------------


class RerunIn(Schema):
    model_config = ConfigDict(extra="forbid")

    part: Literal[
        "director",
        "cinematographer",
        "editor",
        "colorist",
        "platform_expert",
        "debate",
        "synthesis",
        "shots",
    ]
    provider: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    model: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class RerunStarted(Schema):
    id: int
    run_id: str
    part: str
    parts: list[str]
    expected_cost: Money


def _rerun(request: HttpRequest, session_id: int, body: RerunIn) -> Any:
    from django.core.exceptions import PermissionDenied

    from roundtable.reruns import RerunBusy, RerunDraft, rerun_prepare

    user = _caller(request)
    session, membership = selectors.session_get_any_project(user, session_id)
    if not membership.can(Role.EDITOR):
        raise PermissionDenied("Only editors and owners can re-run a part.")
    try:
        prepared: RerunDraft = rerun_prepare(
            user,
            session,
            body.part,
            provider=body.provider or "",
            model=body.model or "",
            note=body.note or "",
            correlation_id=correlation_id(request),
        )
    except (chair_services.ChairClosed, RerunBusy) as exc:
        raise HttpError(409, str(exc)) from None
    return prepared


@router.post(
    "/roundtables/{session_id}/rerun",
    response={202: RerunStarted, **errors(400, 403, 404, 409, 429)},
    summary="Re-run one part of a finished session (a run of its own)",
)
async def roundtable_rerun(request: HttpRequest, session_id: PathId, body: RerunIn) -> Any:
    from roundtable.reruns import parts_of, rerun_create_for

    run = await start_prepared(
        functools.partial(_rerun, request, session_id, body), rerun_create_for
    )
    return Status(
        202,
        {
            "id": session_id,
            "run_id": str(run.pk),
            "part": body.part,
            "parts": parts_of(body.part),
            "expected_cost": run.expected_cost,
        },
    )
