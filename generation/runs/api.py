"""Run routes of the API (../shared/API.md §3): read a run, follow its events (resumable),
cancel it; and the helpers the products' routes share (``sse_response``, ``run_state``,
``start_run``, ``run_finished``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Protocol, cast
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Query, Router, Schema
from pydantic import ConfigDict, Field

from aura_site.api_errors import ApiError, error_body, errors
from aura_site.api_types import ID_MAX, Money
from generation.runs import launch
from generation.runs.events import TERMINAL_EVENTS, writer_for_loop
from generation.runs.models import Run, RunStatus
from generation.runs.selectors import run_for_user, run_snapshot
from generation.runs.services import (
    RunDraft,
    RunLimitExceeded,
    run_cancel,
    run_create,
    run_wait_ended,
)
from generation.runs.streams import follow_run, sse_stream

router = Router(tags=["runs"])


class UsageOut(Schema):
    input_tokens: int
    output_tokens: int
    reported: bool


class TimingsOut(Schema):
    queued_at: datetime
    started_at: datetime | None
    first_token_at: datetime | None
    finished_at: datetime | None
    ttft_ms: int | None
    duration_ms: int | None


class RunErrorOut(Schema):
    code: str
    message: str


class PartOut(Schema):
    key: str
    label: str
    status: str
    provider: str
    model: str
    text: str
    usage: UsageOut
    cost: Money
    progress: int | None
    result: dict[str, Any]
    error: RunErrorOut | None


class RunAttemptOut(Schema):
    """One provider call of a run: ``number`` counts every call of its part, 1, 2, 3, ...,
    across fallbacks and a script's revisions alike (a revision's call continues the count),
    as the cost records number them."""

    model_config = ConfigDict(extra="allow")

    number: int
    part: str = ""
    provider: str
    model: str = ""
    outcome: str = ""
    error_kind: str = ""
    message: str = ""
    retries: int = 0
    ttft_ms: int | None = None
    duration_ms: int | None = None
    usage: UsageOut | None = None
    cost: str = "0"
    finish_reason: str = ""
    streaming: bool = True
    price_assumed: bool = False
    """The model has no price of its own: its cost is at the provider's default price."""


class NoticeOut(Schema):
    """Why a run did not go as chosen (``generation.chain.notices``): ``code`` is the first of
    ``codes`` (``provider_changed``, ``template_output``, ``cost_above_expected``), ``message``
    one sentence for each."""

    code: str
    codes: list[str]
    message: str


class RunOut(Schema):
    id: str
    project: int
    kind: str
    status: str
    text: str
    provider: str
    model: str
    attempts: list[RunAttemptOut]
    usage: UsageOut
    cost: Money
    expected_tokens: int
    expected_cost: Money
    cost_ceiling: Money
    tokens_per_second: float
    timings: TimingsOut
    error: RunErrorOut | None
    result: dict[str, Any]
    notice: NoticeOut | None = None
    """Set once a run has ended otherwise than chosen (the same as its ``done`` event's)."""
    parts: list[PartOut]
    last_seq: int
    correlation_id: str


class QuoteOut(Schema):
    expected_cost: Money
    cost_ceiling: Money
    currency: str
    provider: str
    model: str


def quote_out(draft: RunDraft) -> dict[str, Any]:
    """A prepared run's quote: its expected cost and the most its chains may spend."""
    return {
        "expected_cost": draft.expected_cost,
        "cost_ceiling": draft.cost_ceiling,
        "currency": "USD",
        "provider": draft.provider,
        "model": draft.model,
    }


def _caller(request: HttpRequest) -> Any:
    """The user django-ninja authenticated (bearer token or session)."""
    return request.auth  # type: ignore[attr-defined]


def run_state(run_id: UUID | str) -> dict[str, Any]:
    snapshot = run_snapshot(run_id)
    run = snapshot.run
    return {
        "id": str(run.pk),
        "project": run.project_id,
        "kind": run.kind,
        "status": run.status,
        "text": snapshot.text,
        "provider": run.provider,
        "model": run.model,
        "attempts": run.attempts,
        "usage": {
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "reported": run.usage_reported,
        },
        "cost": run.cost,
        "expected_tokens": run.expected_tokens,
        "expected_cost": run.expected_cost,
        "cost_ceiling": run.cost_ceiling,
        "tokens_per_second": run.tokens_per_second,
        "timings": {
            "queued_at": run.queued_at,
            "started_at": run.started_at,
            "first_token_at": run.first_token_at,
            "finished_at": run.finished_at,
            "ttft_ms": run.ttft_ms,
            "duration_ms": run.duration_ms,
        },
        "error": {"code": run.error_code, "message": run.error_message} if run.error_code else None,
        "result": run.result,
        "notice": run.notice,
        "parts": [
            {
                "key": part.key,
                "label": part.label,
                "status": part.status,
                "provider": part.provider,
                "model": part.model,
                "text": part.text,
                "usage": {
                    "input_tokens": part.input_tokens,
                    "output_tokens": part.output_tokens,
                    "reported": part.usage_reported,
                },
                "cost": part.cost,
                "progress": part.progress,
                "result": part.result,
                "error": (
                    {"code": part.error_code, "message": part.error_message}
                    if part.error_code
                    else None
                ),
            }
            for part in snapshot.parts
        ],
        "last_seq": snapshot.last_seq,
        "correlation_id": run.correlation_id,
    }


def sse_response(run_id: UUID | str, after: int) -> StreamingHttpResponse:
    response = StreamingHttpResponse(sse_stream(run_id, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def start_run(
    prepare: Callable[[], RunDraft], with_run: Callable[[Run], None] | None = None
) -> Run:
    """Prepare a run (sync: reads the database) and create it on the run writer's thread; the
    stream limits answer 429 with ``Retry-After``."""
    launch.note_loop()
    try:
        draft = await sync_to_async(prepare)()
        create = functools.partial(run_create, draft, with_run=with_run)
        return cast(Run, await writer_for_loop().run_sync(create))
    except RunLimitExceeded as exc:
        raise ApiError(429, exc.code, exc.message, retry_after=exc.retry_after) from None


class _Prepared(Protocol):
    @property
    def draft(self) -> RunDraft: ...


async def start_prepared[P: _Prepared](
    prepare: Callable[[], P], create_for: Callable[[P], Callable[[Run], None]]
) -> Run:
    """``start_run`` for a product whose preparation carries its draft and more
    (``prepare()`` checks and prices the request; ``create_for(prepared)`` makes the product's
    own row inside the run's transaction)."""
    prepared: list[P] = []

    def draft() -> RunDraft:
        prepared.append(prepare())
        return prepared[0].draft

    def with_run(run: Run) -> None:
        create_for(prepared[0])(run)

    return await start_run(draft, with_run)


_FAILURE_STATUS = {
    "timeout": 504,
    "unavailable": 503,
    "interrupted": 503,
    "auth": 502,
    "quota": 502,
    "rate_limit": 502,
    "overloaded": 502,
}


async def run_finished(request: HttpRequest, run: Run) -> Any:
    """Wait for ``run`` to end: its state when it succeeded, else the error shape with the run's
    id and text (409 cancelled, 504 timeout, 503 unavailable or interrupted, 502 otherwise)."""
    async for event in follow_run(run.pk, 0):
        if event is not None and event.event in TERMINAL_EVENTS:
            break
    state = await sync_to_async(run_state)(run.pk)
    if state["status"] == RunStatus.SUCCEEDED:
        return state
    if state["status"] == RunStatus.CANCELLED:
        code, message, status = "cancelled", "The run was cancelled.", 409
    else:
        error = state["error"] or {"code": "failed", "message": "The run failed."}
        code, message = error["code"], error["message"]
        status = _FAILURE_STATUS.get(code, 502)
    body_out = error_body(request, code, message)
    body_out["error"]["run_id"] = state["id"]
    body_out["error"]["text"] = state["text"]
    return JsonResponse(body_out, status=status)


# ---------------------------------------------------------------------------------------------
# The events of a run's stream, for the OpenAPI document

SSE_SCHEMAS: dict[str, type[Schema]] = {}
"""Every event's data schema, by component name; ``aura_site.api`` adds them to the document's
``components.schemas``."""


def sse_schema[S: type[Schema]](model: S) -> S:
    SSE_SCHEMAS[model.__name__] = model
    return model


@sse_schema
class RunStartedEvent(Schema):
    """``run``: the first event of every run."""

    run_id: str
    kind: str
    provider: str = ""
    model: str = ""
    expected_tokens: int = 0
    expected_cost: str
    cost_ceiling: str = "0"


@sse_schema
class ProgressEvent(Schema):
    """``progress``: the stage a run is at; ``stage: "reset"`` carries the new ``text`` the
    chunks after it append onto."""

    stage: str
    message: str = ""
    text: str | None = None


@sse_schema
class ChunkEvent(Schema):
    """``chunk``: new text, with the output tokens and the cost so far."""

    content: str
    tokens: int
    cost: str
    tokens_per_second: float
    provider: str


class SkippedProviderOut(Schema):
    """A provider passed over on the way to the next attempt: ``code`` (``budget``,
    ``cost_ceiling``, ``circuit_open``, ``not_configured`` or a provider error kind) and why."""

    provider: str
    code: str
    reason: str = ""


@sse_schema
class ProviderSwitchEvent(Schema):
    """``provider_switch``: which provider was left, before any of its text was shown, and
    why. ``part`` names the part where the run has several."""

    model_config = ConfigDict(populate_by_name=True)

    part: str | None = None
    from_provider: str = Field(alias="from")
    to: str
    reason: str
    skipped: list[SkippedProviderOut] = Field(default_factory=list)
    """Every provider passed over since the previous attempt, in chain order."""
    summary: str = ""
    """``openai, anthropic: budget; azure: not configured → ollama``."""


@sse_schema
class ProviderRetryEvent(Schema):
    """``provider_retry``: a provider answered with a retryable error before any text; it is
    asked again in ``retry_in_seconds`` (``summary``: "OpenAI rate-limited, retrying in 1 s")."""

    part: str | None = None
    provider: str
    label: str = ""
    code: str
    message: str = ""
    retry_in_seconds: float
    retry: int
    summary: str = ""


@sse_schema
class RunDoneEvent(Schema):
    """``done``: how the run ended well (a kind adds its own fields: a script's ``script_id``
    and ``validation``, a session's ``session_id`` and ``costs``, a job's ``job_id``)."""

    run_id: str
    text: str | None = None
    provider: str | None = None
    model: str | None = None
    usage: UsageOut | None = None
    cost: str
    ttft_ms: int | None = None
    tokens_per_second: float | None = None
    duration_ms: int | None = None


@sse_schema
class CancelledEvent(Schema):
    """``cancelled``: what was produced before the cancel, and its cost."""

    run_id: str
    text: str
    usage: UsageOut
    cost: str


@sse_schema
class ErrorEvent(Schema):
    """``error``: why the run failed; the text produced before it is kept."""

    code: str
    message: str
    correlation_id: str | None = None
    text: str | None = None


RUN_EVENTS: dict[str, type[Schema]] = {
    "run": RunStartedEvent,
    "progress": ProgressEvent,
    "chunk": ChunkEvent,
    "provider_switch": ProviderSwitchEvent,
    "provider_retry": ProviderRetryEvent,
    "done": RunDoneEvent,
    "cancelled": CancelledEvent,
    "error": ErrorEvent,
}
"""The events every run may send; a kind's stream may send its own as well."""


def event_stream_response(
    events: dict[str, type[Schema]], description: str, *, other_events: bool = False
) -> dict[str, Any]:
    """``openapi_extra`` of a route that answers with a run's server-sent events: its 200 is
    ``text/event-stream`` whose ``itemSchema`` (OpenAPI 3.2) gives each event's ``id``,
    ``event`` and ``data`` (a JSON text of the event's schema). ``other_events``: the stream
    may carry events of any kind of run besides these."""
    for model in events.values():
        SSE_SCHEMAS.setdefault(model.__name__, model)
    seq = {"type": "string", "pattern": "^[0-9]+$", "description": "The event's seq"}
    items: list[dict[str, Any]] = [
        {
            "type": "object",
            "title": name,
            "properties": {
                "id": seq,
                "event": {"const": name},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": f"#/components/schemas/{model.__name__}"},
                },
            },
            "required": ["id", "event", "data"],
        }
        for name, model in events.items()
    ]
    if other_events:
        items.append(
            {
                "type": "object",
                "title": "another kind's event",
                "properties": {
                    "id": seq,
                    "event": {"type": "string"},
                    "data": {"type": "string", "contentMediaType": "application/json"},
                },
                "required": ["id", "event", "data"],
            }
        )
    return {
        "responses": {
            200: {
                "description": (
                    f"{description} Each event has `id: <seq>` (1, 2, 3, ... per run, so "
                    "`Last-Event-ID` resumes it), an `event:` name and one JSON `data:` line; "
                    "a `: keep-alive` comment comes at least every 15 s while idle; the stream "
                    "ends after the terminal event (`done`, `cancelled` or `error`). Errors "
                    "before the stream starts are JSON, with the status given."
                ),
                "content": {"text/event-stream": {"itemSchema": {"anyOf": items}}},
            }
        }
    }


@router.get("/runs/{run_id}", response={200: RunOut, **errors(404)}, summary="A run's state")
async def run_detail(request: HttpRequest, run_id: str) -> Any:
    run, _ = await sync_to_async(run_for_user)(_caller(request), run_id)
    return await sync_to_async(run_state)(run.pk)


def _after(request: HttpRequest, after: int | None) -> int:
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:
        try:
            return min(ID_MAX, max(0, int(header)))
        except ValueError:
            raise ApiError(
                400,
                "invalid_request",
                "Last-Event-ID must be the seq of an event.",
                details=[{"field": "Last-Event-ID", "message": "not a number", "type": "int"}],
            ) from None
    return max(0, after or 0)


@router.get(
    "/runs/{run_id}/events",
    response={200: None, **errors(404)},
    summary="Replay a run's events after Last-Event-ID (or ?after=), then follow it live",
    openapi_extra=event_stream_response(
        RUN_EVENTS,
        "The run's events after the one given, then its live ones (a kind adds its own: "
        "a roundtable's `agent_chunk`, a video job's `attempt_start`, ...).",
        other_events=True,
    ),
)
async def run_events(
    request: HttpRequest, run_id: str, after: Annotated[int, Query(ge=0, le=ID_MAX)] | None = None
) -> HttpResponseBase:
    launch.note_loop()
    run, _ = await sync_to_async(run_for_user)(_caller(request), run_id)
    return sse_response(run.pk, _after(request, after))


@router.post(
    "/runs/{run_id}/cancel",
    response={200: RunOut, **errors(403, 404)},
    summary="Cancel a run (idempotent)",
)
async def run_cancel_view(request: HttpRequest, run_id: str) -> Any:
    launch.note_loop()
    run = await run_cancel(_caller(request), run_id)
    if run.is_active:
        run = await run_wait_ended(run.pk, 5)
    return await sync_to_async(run_state)(run.pk)
