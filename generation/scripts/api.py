"""Script routes of the API (../shared/API.md §3): start a script run and stream it as SSE
(``POST /api/v1/scripts/stream``) or wait for it (``POST /api/v1/scripts``), and read a saved
script with its versions (``GET /api/v1/scripts/{script_id}``)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from ninja import Router, Schema
from pydantic import ConfigDict, Field, StringConstraints

from aura_site.api_errors import ApiError, correlation_id, errors
from aura_site.api_types import Id, Money, PathId
from generation.runs.api import (
    QuoteOut,
    RunOut,
    quote_out,
    run_finished,
    sse_response,
    start_run,
)
from generation.runs.models import Run
from generation.runs.services import RunDraft
from generation.scripts import selectors
from generation.scripts.launch import GenerationRefused, script_run_prepare
from generation.scripts.models import Script, ScriptVersion

router = Router(tags=["scripts"])


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
    platform: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = "youtube"
    delivery: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    duration_seconds: int = Field(60, ge=10, le=1800)
    key_points: list[KeyPointIn] = Field(default_factory=list, max_length=20)
    provider: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = "auto"
    model: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None


def _prepare(request: HttpRequest, body: ScriptRequest) -> RunDraft:
    user = request.auth  # type: ignore[attr-defined]
    try:
        return script_run_prepare(user, body.model_dump(), correlation_id=correlation_id(request))
    except GenerationRefused as exc:
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
    response={200: QuoteOut, **errors(403, 404, 503)},
    summary="What a script run would cost",
)
async def script_quote(request: HttpRequest, body: ScriptRequest) -> Any:
    return quote_out(await sync_to_async(_prepare)(request, body))


@router.post(
    "/scripts/stream",
    response={200: None, **errors(403, 404, 429, 503)},
    summary="Start a script run and stream it as server-sent events",
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
