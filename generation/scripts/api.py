"""Script routes of the API (../shared/API.md §3): start a script run and stream it as SSE
(``POST /api/v1/scripts/stream``) or wait for it (``POST /api/v1/scripts``), and read a saved
script with its versions (``GET /api/v1/scripts/{script_id}``)."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field, StringConstraints

from aura_site.api_errors import ApiError, correlation_id, errors
from aura_site.api_types import ID_MAX, Id, Money, PathId, enum_schema
from aura_site.projects.forms import TEXT_MAX
from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from generation.chain.api import ProviderName
from generation.runs.api import (
    RUN_EVENTS,
    QuoteOut,
    RunDoneEvent,
    RunOut,
    event_stream_response,
    quote_out,
    run_finished,
    sse_response,
    start_run,
)
from generation.runs.models import Run
from generation.runs.services import RunDraft
from generation.scripts import exports, selectors, services
from generation.scripts.constants import PLATFORMS
from generation.scripts.launch import GenerationRefused, script_run_prepare
from generation.scripts.models import Persona, Script, ScriptVersion

router = Router(tags=["scripts"])

PlatformName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=40),
    enum_schema([p.slug for p in PLATFORMS], description="The platform the script is for."),
]


class KeyPointIn(Schema):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    priority: Literal["must", "should", "nice"] = "must"


class ScriptRequest(Schema):
    """A script run (API.md §3). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    project: Id
    topic: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
    audience: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    tone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    template: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = None
    persona: Id | None = None
    platform: PlatformName = "youtube"
    delivery: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    duration_seconds: int = Field(60, ge=10, le=1800)
    key_points: list[KeyPointIn] = Field(default_factory=list, max_length=20)
    provider: ProviderName = "auto"
    model: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    max_cost_usd: Decimal | None = Field(
        None,
        ge=0,
        le=10_000,
        max_digits=12,
        decimal_places=8,
        description=(
            "A cost ceiling for fallbacks, in USD: a fallback provider whose expected cost "
            "(the prompt and every output token it may write) is above it is skipped, "
            '"over your cost ceiling".'
        ),
    )


class RouteNoticeOut(Schema):
    """Why a run did not go as chosen: ``code`` (``provider_changed``, ``template_output``,
    ``cost_above_expected``), every code that applies, and one sentence per code."""

    code: str
    codes: list[str]
    message: str


class ScriptDoneEvent(RunDoneEvent):
    """``done`` of a script run: the saved script and its validation report."""

    script_id: int | None
    validation: dict[str, Any] | None
    notice: RouteNoticeOut | None = None


def _prepare(request: HttpRequest, body: ScriptRequest) -> RunDraft:
    user = request.auth  # type: ignore[attr-defined]
    try:
        return script_run_prepare(user, body.model_dump(), correlation_id=correlation_id(request))
    except GenerationRefused as exc:
        if exc.code == "provider_not_configured":
            raise ApiError(
                409,
                exc.code,
                exc.message,
                details=[{"field": "provider", "message": exc.message, "type": exc.code}],
            ) from None
        unknown = "Unknown provider" in exc.message
        raise ApiError(
            400 if unknown else 503,
            "invalid_provider" if unknown else "no_provider",
            exc.message,
            details=[{"field": "provider", "message": exc.message, "type": "invalid"}],
        ) from None


async def _start(request: HttpRequest, body: ScriptRequest) -> Run:
    return await start_run(functools.partial(_prepare, request, body))


@router.post(
    "/scripts/quote",
    response={200: QuoteOut, **errors(403, 404, 409, 503)},
    summary="What a script run would cost",
)
async def script_quote(request: HttpRequest, body: ScriptRequest) -> Any:
    return quote_out(await sync_to_async(_prepare)(request, body))


@router.post(
    "/scripts/stream",
    response={200: None, **errors(403, 404, 409, 429, 503)},
    summary="Start a script run and stream it as server-sent events",
    openapi_extra=event_stream_response(
        {**RUN_EVENTS, "done": ScriptDoneEvent}, "The script run's events, as it runs."
    ),
)
async def script_stream(request: HttpRequest, body: ScriptRequest) -> HttpResponseBase:
    run = await _start(request, body)
    return sse_response(run.pk, 0)


@router.post(
    "/scripts",
    response={200: RunOut, **errors(403, 404, 409, 429, 502, 503, 504)},
    summary="Run a script and wait for it",
)
async def script_complete(request: HttpRequest, body: ScriptRequest) -> Any:
    return await run_finished(request, await _start(request, body))


class VersionOut(Schema):
    number: int
    source: str
    complete: bool
    text: str
    provider: str
    model: str
    cost: Money
    usage: dict[str, Any]
    validation: dict[str, Any]
    run_id: UUID | None
    parent: int | None
    note: str
    created_by: str | None
    created_at: datetime
    template_output: bool


class ScriptOut(Schema):
    id: int
    project: int
    title: str
    topic: str
    status: str
    brief: dict[str, Any]
    template: str | None
    persona: int | None
    provider: str
    cost: Money
    current_version: int | None
    last_run_id: UUID | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    versions: list[VersionOut]


def _version_out(version: ScriptVersion) -> VersionOut:
    return VersionOut(
        number=version.number,
        source=version.source,
        complete=version.complete,
        text=version.text,
        provider=version.provider,
        model=version.model,
        cost=version.cost,
        usage={
            "input_tokens": version.input_tokens,
            "output_tokens": version.output_tokens,
            "reported": version.usage_reported,
        },
        validation=version.validation,
        run_id=version.run_id,
        parent=version.parent.number if version.parent else None,
        note=version.note,
        created_by=version.created_by.get_username() if version.created_by else None,
        created_at=version.created_at,
        template_output=version.is_template_output,
    )


def script_out(script: Script) -> ScriptOut:
    versions = list(selectors.versions_of(script))
    return ScriptOut(
        id=script.pk,
        project=script.project_id,
        title=script.title,
        topic=script.topic,
        status=script.status,
        brief=script.brief,
        template=script.template.slug if script.template else None,
        persona=script.persona_id,
        provider=script.provider,
        cost=script.cost,
        current_version=script.current_version.number if script.current_version else None,
        last_run_id=script.last_run_id,
        created_by=script.created_by.get_username() if script.created_by else None,
        created_at=script.created_at,
        updated_at=script.updated_at,
        versions=[_version_out(v) for v in versions],
    )


@router.get(
    "/scripts/{script_id}",
    response={200: ScriptOut, **errors(404)},
    summary="A saved script with its versions",
)
def script_detail(request: HttpRequest, script_id: PathId) -> ScriptOut:
    user = request.auth  # type: ignore[attr-defined]
    script, _ = selectors.script_get_any_project(user, script_id)
    return script_out(script)


# ---------------------------------------------------------------------------------------------
# A project's scripts, and a script's exports

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
PAGE_MAX = 100_000


class ScriptProgressOut(Schema):
    """The run writing a script, while it writes: output tokens so far against the expected."""

    run_id: UUID
    status: str
    output_tokens: int
    expected_tokens: int
    percent: int


class ScriptSummaryOut(Schema):
    id: int
    project: int
    title: str
    topic: str
    status: str
    template: str | None
    provider: str
    cost: Money
    current_version: int | None
    last_run_id: UUID | None
    progress: ScriptProgressOut | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class ScriptPageOut(Schema):
    items: list[ScriptSummaryOut]
    count: int
    page: int
    page_size: int
    pages: int


def _scripts_page(user: Any, project_id: int, q: str, page: int, page_size: int) -> ScriptPageOut:
    scripts, total = selectors.scripts_page(
        user, project_id, query=q, page=page, page_size=page_size
    )
    runs = selectors.live_runs_of(scripts)
    items = []
    for script in scripts:
        run = runs.get(script.pk)
        items.append(
            ScriptSummaryOut(
                id=script.pk,
                project=script.project_id,
                title=script.title,
                topic=script.topic,
                status=script.status,
                template=script.template.slug if script.template else None,
                provider=script.provider,
                cost=script.cost,
                current_version=script.current_version.number if script.current_version else None,
                last_run_id=script.last_run_id,
                progress=ScriptProgressOut(
                    run_id=run.pk,
                    status=run.status,
                    output_tokens=run.output_tokens,
                    expected_tokens=run.expected_tokens,
                    percent=run.progress_percent,
                )
                if run is not None
                else None,
                created_by=script.created_by.get_username() if script.created_by else None,
                created_at=script.created_at,
                updated_at=script.updated_at,
            )
        )
    return ScriptPageOut(
        items=items,
        count=total,
        page=page,
        page_size=page_size,
        pages=max(1, -(-total // page_size)),
    )


@router.get(
    "/projects/{project_id}/scripts",
    response={200: ScriptPageOut, **errors(404)},
    summary="A project's scripts, newest first (paginated, searchable)",
)
def script_list(
    request: HttpRequest,
    project_id: PathId,
    q: Annotated[str, Query(max_length=200, description="Words in the title or the topic")] = "",
    page: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=PAGE_SIZE_MAX, description=f"At most {PAGE_SIZE_MAX}")
    ] = PAGE_SIZE_DEFAULT,
) -> ScriptPageOut:
    """Members only. A script being written carries ``progress``: its run's output tokens so far
    against the tokens expected, and the percent they make."""
    return _scripts_page(request.auth, project_id, q, page, page_size)  # type: ignore[attr-defined]


ExportFormat = Literal["md", "txt", "srt", "vtt", "csv"]
EXPORT_TYPES = {
    "md": "text/markdown",
    "txt": "text/plain",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "csv": "text/csv",
}


@router.get(
    "/scripts/{script_id}/export",
    response={200: None, **errors(404, 409)},
    summary="A script version as Markdown, text, captions (SRT, WebVTT) or a timing sheet (CSV)",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, as an attachment (`Content-Disposition`).",
                "content": {
                    content_type: {"schema": {"type": "string"}}
                    for content_type in EXPORT_TYPES.values()
                },
            }
        }
    },
)
def script_export(
    request: HttpRequest,
    script_id: PathId,
    format: ExportFormat = "md",
    version: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> HttpResponse:
    """``version`` defaults to the current one; a script with no version yet answers 409."""
    script, _ = selectors.script_get_any_project(request.auth, script_id)  # type: ignore[attr-defined]
    if version is not None:
        chosen = selectors.version_get(script, version)
    elif script.current_version is not None:
        chosen = script.current_version
    else:
        raise ApiError(409, "no_version", "This script has no text yet.")
    export = exports.script_export(script, chosen, format)
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


# ---------------------------------------------------------------------------------------------
# Personas

PersonaLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PersonaName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
PersonaVoice = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TEXT_MAX)]
PersonaAudience = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class PersonaIn(Schema):
    """A persona. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    name: PersonaName
    voice: PersonaVoice = ""
    audience: PersonaAudience = ""
    do: list[PersonaLine] = Field(default_factory=list, max_length=20)
    dont: list[PersonaLine] = Field(default_factory=list, max_length=20)


class PersonaPatch(Schema):
    """The fields to change; the others keep their values."""

    model_config = ConfigDict(extra="forbid")

    name: PersonaName | None = None
    voice: PersonaVoice | None = None
    audience: PersonaAudience | None = None
    do: list[PersonaLine] | None = Field(None, max_length=20)
    dont: list[PersonaLine] | None = Field(None, max_length=20)


class PersonaOut(Schema):
    id: int
    project: int
    name: str
    voice: str
    audience: str
    do: list[str]
    dont: list[str]
    created_at: datetime
    updated_at: datetime


def _persona_out(persona: Persona) -> PersonaOut:
    return PersonaOut(
        id=persona.pk,
        project=persona.project_id,
        name=persona.name,
        voice=persona.voice,
        audience=persona.audience,
        do=list(persona.do),
        dont=list(persona.dont),
        created_at=persona.created_at,
        updated_at=persona.updated_at,
    )


@router.get(
    "/projects/{project_id}/personas",
    response={200: list[PersonaOut], **errors(404)},
    summary="A project's personas",
)
def persona_list(request: HttpRequest, project_id: PathId) -> list[PersonaOut]:
    _, _, personas = selectors.personas_for_project(request.auth, project_id)  # type: ignore[attr-defined]
    return [_persona_out(p) for p in personas]


@router.post(
    "/projects/{project_id}/personas",
    response={201: PersonaOut, **errors(403, 404)},
    summary="Add a persona (editors)",
)
def persona_create(
    request: HttpRequest, project_id: PathId, payload: PersonaIn
) -> Status[PersonaOut]:
    user = request.auth  # type: ignore[attr-defined]
    project, _ = project_for_user(user, project_id, Role.EDITOR)
    persona = services.persona_save(project=project, user=user, data=payload.model_dump())
    return Status(201, _persona_out(persona))


@router.get(
    "/projects/{project_id}/personas/{persona_id}",
    response={200: PersonaOut, **errors(404)},
    summary="A persona",
)
def persona_detail(request: HttpRequest, project_id: PathId, persona_id: PathId) -> PersonaOut:
    persona, _ = selectors.persona_get(request.auth, project_id, persona_id)  # type: ignore[attr-defined]
    return _persona_out(persona)


@router.patch(
    "/projects/{project_id}/personas/{persona_id}",
    response={200: PersonaOut, **errors(403, 404)},
    summary="Change a persona (editors)",
)
def persona_update(
    request: HttpRequest, project_id: PathId, persona_id: PathId, payload: PersonaPatch
) -> PersonaOut:
    user = request.auth  # type: ignore[attr-defined]
    persona, _ = selectors.persona_get(user, project_id, persona_id, minimum=Role.EDITOR)
    data = {
        "name": persona.name,
        "voice": persona.voice,
        "audience": persona.audience,
        "do": list(persona.do),
        "dont": list(persona.dont),
        **payload.model_dump(exclude_none=True),
    }
    saved = services.persona_save(project=persona.project, user=user, data=data, persona=persona)
    return _persona_out(saved)


@router.delete(
    "/projects/{project_id}/personas/{persona_id}",
    response={204: None, **errors(403, 404)},
    summary="Delete a persona (editors); its scripts keep their briefs",
)
def persona_remove(request: HttpRequest, project_id: PathId, persona_id: PathId) -> Status[None]:
    persona, _ = selectors.persona_get(
        request.auth,  # type: ignore[attr-defined]
        project_id,
        persona_id,
        minimum=Role.EDITOR,
    )
    services.persona_delete(persona)
    return Status(204, None)
