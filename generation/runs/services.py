"""Writes of runs: start, cancel, reap.

``run_start`` checks the caller's role and the stream limits, creates the run (queued) with its
first event (``run``) and, once the transaction commits, launches ``execute_run``. It returns at
once; the work never depends on the connection that asked for it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from aura_site.projects.models import Project, Role
from aura_site.projects.selectors import project_for_user
from generation.runs import conf, runner
from generation.runs.db import db_call
from generation.runs.events import append_terminal_event, publish_event
from generation.runs.models import (
    ACTIVE_STATUSES,
    Run,
    RunEvent,
    RunKind,
    RunStatus,
)
from generation.runs.selectors import run_for_user

logger = logging.getLogger(__name__)


class RunLimitExceeded(Exception):
    """Too many streams: the caller's own (``user_stream_limit``) or this server's
    (``server_stream_limit``). ``retry_after`` is a fair wait in seconds."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class NoProviderAvailable(Exception):
    """No provider of the chosen chain can serve (unknown name, or none configured)."""


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    requested: str
    provider: str
    model: str


def provider_choose(choice: str, model: str | None = None) -> ProviderChoice:
    """The provider a run starts on: the first of ``choice``'s chain (``auto`` or a name)."""
    from generation.providers.registry import get_provider, resolve_chain

    requested = choice or "auto"
    try:
        chain = resolve_chain(requested)
    except (KeyError, ValueError, LookupError) as exc:
        raise NoProviderAvailable(str(exc) or f"Unknown provider {requested!r}.") from None
    if not chain:
        raise NoProviderAvailable(f"No configured provider can serve {requested!r}.")
    first = chain[0]
    alias = first if isinstance(first, str) else str(getattr(first, "alias", first))
    adapter = get_provider(alias) if isinstance(first, str) else first
    return ProviderChoice(requested, alias, model or adapter.default_model)


def _check_limits(user: Any) -> None:
    active = Run.objects.filter(created_by=user, status__in=ACTIVE_STATUSES).count()
    if active >= settings.AURA_MAX_STREAMS_PER_USER:
        raise RunLimitExceeded(
            "user_stream_limit",
            f"You already have {active} runs streaming (the limit is "
            f"{settings.AURA_MAX_STREAMS_PER_USER}). Wait for one to finish or cancel one.",
            retry_after=10,
        )
    if settings.AURA_RUNNER == "inline" and runner.local_load() >= (
        settings.AURA_MAX_CONCURRENT_STREAMS
    ):
        raise RunLimitExceeded(
            "server_stream_limit",
            "The studio is streaming as many runs as it can right now. Try again shortly.",
            retry_after=5,
        )


@dataclass(frozen=True, slots=True)
class RunDraft:
    """A run checked and priced, ready to be created (``run_create``)."""

    user: Any
    project: Project
    kind: str
    input: dict[str, Any]
    choice: ProviderChoice
    expected_tokens: int
    expected_cost: Decimal
    correlation_id: str


def run_prepare(
    *,
    user: Any,
    project: Project,
    kind: str,
    input: dict[str, Any],
    provider: str = "auto",
    model: str | None = None,
    expected_tokens: int = 0,
    prompt: str = "",
    correlation_id: str = "",
) -> RunDraft:
    """The reads before a run exists: the provider it starts on and its expected cost."""
    from generation.costs.services import expected_cost

    choice = provider_choose(provider, model)
    cost = expected_cost(
        choice.provider, choice.model, prompt=prompt, output_tokens=expected_tokens
    )
    return RunDraft(user, project, kind, input, choice, expected_tokens, cost, correlation_id[:64])


def run_create(draft: RunDraft) -> Run:
    """Check the limits, create the queued run with its ``run`` event, launch it after commit.

    The one write transaction of a start: async callers run it on the run writer's thread
    (``EventWriter.run_sync``), so that starts never wait on SQLite's lock behind live events.
    """
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=draft.user.pk).first()
        _check_limits(draft.user)
        run = Run.objects.create(
            project=draft.project,
            kind=draft.kind,
            created_by=draft.user,
            input=draft.input,
            provider_requested=draft.choice.requested,
            provider=draft.choice.provider,
            model=draft.choice.model,
            expected_tokens=draft.expected_tokens,
            expected_cost=draft.expected_cost,
            correlation_id=draft.correlation_id,
            heartbeat_at=timezone.now(),
            worker_id=runner.worker_id() if settings.AURA_RUNNER == "inline" else "",
        )
        RunEvent.objects.create(run=run, seq=1, event="run", data=run_event_data(run))
        transaction.on_commit(lambda: runner.launch(run.pk))
    return run


def run_start(
    *,
    user: Any,
    project: Project,
    kind: str,
    input: dict[str, Any],
    provider: str = "auto",
    model: str | None = None,
    expected_tokens: int = 0,
    prompt: str = "",
    correlation_id: str = "",
) -> Run:
    """Create a queued run and launch it after commit (sync). The caller has checked the
    role (``project_for_user(..., minimum=Role.EDITOR)``)."""
    return run_create(
        run_prepare(
            user=user,
            project=project,
            kind=kind,
            input=input,
            provider=provider,
            model=model,
            expected_tokens=expected_tokens,
            prompt=prompt,
            correlation_id=correlation_id,
        )
    )


def run_event_data(run: Run) -> dict[str, Any]:
    return {
        "run_id": str(run.pk),
        "kind": run.kind,
        "provider": run.provider,
        "model": run.model,
        "expected_tokens": run.expected_tokens,
        "expected_cost": str(run.expected_cost),
    }


def script_input_validate(project: Project, data: dict[str, Any]) -> dict[str, Any]:
    """The script request as stored in ``run.input`` (JSON), checked against the project by the
    scripts app (template slug, persona id, key points): raises ``ValidationError``."""
    from generation.scripts.services import script_input_clean

    cleaned = script_input_clean(project, data)
    stored = {key: value for key, value in data.items() if value is not None}
    stored.update(
        {
            key: cleaned[key]
            for key in (
                "topic",
                "audience",
                "tone",
                "platform",
                "duration_seconds",
                "key_points",
                "delivery",
            )
            if key in cleaned
        }
    )
    stored["provider"] = str(data.get("provider") or "auto")
    return stored


def script_run_prepare(user: Any, data: dict[str, Any], *, correlation_id: str = "") -> RunDraft:
    """Check a script request (API.md §3) for an editor or owner of its project."""
    from generation.runs.handlers import expected_script_tokens, script_prompt

    project, _ = project_for_user(user, data["project"], minimum=Role.EDITOR)
    stored = script_input_validate(project, data)
    return run_prepare(
        user=user,
        project=project,
        kind=RunKind.SCRIPT,
        input=stored,
        provider=stored["provider"],
        model=stored.get("model") or None,
        expected_tokens=expected_script_tokens(int(stored.get("duration_seconds") or 60)),
        prompt=script_prompt(stored),
        correlation_id=correlation_id,
    )


def script_run_start(user: Any, data: dict[str, Any], *, correlation_id: str = "") -> Run:
    """Start a script run from a request body (API.md §3): editors and owners only."""
    return run_create(script_run_prepare(user, data, correlation_id=correlation_id))


# ---- cancel ------------------------------------------------------------------------------


def _mark_cancel(run_id: UUID) -> Run:
    Run.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES).update(cancel_requested=True)
    return Run.objects.get(pk=run_id)


def _end_without_executor(run_id: UUID, expect: tuple[str, ...]) -> tuple[Run, int, dict] | None:
    def fields(run: Run, text: str) -> dict[str, Any]:
        now = timezone.now()
        return {
            "status": RunStatus.CANCELLED,
            "text": text,
            "finished_at": now,
            "cancel_requested": True,
        }

    def data(run: Run, text: str) -> dict[str, Any]:
        return {
            "run_id": str(run.pk),
            "text": text,
            "usage": {
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "reported": run.usage_reported,
            },
            "cost": str(run.cost),
        }

    return append_terminal_event(
        run_id, expect=expect, event="cancelled", data_for=data, fields_for=fields
    )


async def run_cancel(user: Any, run_id: object, *, wait: float | None = None) -> Run:
    """Cancel a run (editors and owners); idempotent. Returns the run once it has ended (or
    after ``wait`` seconds)."""
    run, _ = await sync_to_async(run_for_user)(user, run_id, Role.EDITOR)
    if not run.is_active:
        return run
    run = await sync_to_async(_mark_cancel)(run.pk)
    execution = runner.local_execution(run.pk)
    if execution is not None:
        execution.request_cancel()
    elif run.status == RunStatus.QUEUED or _heartbeat_stale(run):
        expect = (RunStatus.QUEUED,) if run.status == RunStatus.QUEUED else ACTIVE_STATUSES
        ended = await sync_to_async(_end_without_executor)(run.pk, tuple(expect))
        if ended is not None:
            ended_run, seq, data = ended
            await publish_event(ended_run.pk, seq, "cancelled", data)
    else:
        await runner.send_control(run.pk, "cancel")
    return await run_wait_ended(run.pk, conf.cancel_wait_seconds() if wait is None else wait)


def _heartbeat_stale(run: Run) -> bool:
    if run.status != RunStatus.RUNNING or run.heartbeat_at is None:
        return False
    return run.heartbeat_at < timezone.now() - timedelta(seconds=conf.stale_seconds())


def _run_get(run_id: UUID) -> Run:
    return Run.objects.get(pk=run_id)


async def run_wait_ended(run_id: UUID, seconds: float) -> Run:
    """The run once it has ended, or as it is after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        run = await db_call(_run_get, run_id)
        if not run.is_active or loop.time() >= deadline:
            return run
        await asyncio.sleep(0.05)


# ---- the reaper ----------------------------------------------------------------------------


def _stale_run_ids() -> list[UUID]:
    now = timezone.now()
    running = Run.objects.filter(
        status=RunStatus.RUNNING,
        heartbeat_at__lt=now - timedelta(seconds=conf.stale_seconds()),
    ).values_list("pk", flat=True)
    queued_cutoff = now - timedelta(seconds=conf.queued_stale_seconds())
    queued = Run.objects.filter(
        status=RunStatus.QUEUED, heartbeat_at__lt=queued_cutoff
    ).values_list("pk", flat=True)
    inline_queued = (
        Run.objects.filter(
            status=RunStatus.QUEUED,
            heartbeat_at__lt=now - timedelta(seconds=conf.stale_seconds()),
        )
        .exclude(worker_id="")
        .values_list("pk", flat=True)
    )
    return list({*running, *queued, *inline_queued})


def _interrupt(run_id: UUID) -> tuple[Run, int, dict] | None:
    stale = timezone.now() - timedelta(seconds=conf.stale_seconds())
    message = "The process running this run stopped; the text produced so far is kept."

    def fields(run: Run, text: str) -> dict[str, Any]:
        return {
            "status": RunStatus.INTERRUPTED,
            "text": text,
            "finished_at": timezone.now(),
            "error_code": "interrupted",
            "error_message": message,
        }

    def data(run: Run, text: str) -> dict[str, Any]:
        return {
            "code": "interrupted",
            "message": message,
            "correlation_id": run.correlation_id,
            "text": text,
        }

    def still_stale(run: Run) -> bool:
        return not (
            run.status == RunStatus.RUNNING and run.heartbeat_at and run.heartbeat_at >= stale
        )

    return append_terminal_event(
        run_id,
        expect=ACTIVE_STATUSES,
        event="error",
        data_for=data,
        fields_for=fields,
        only_if=still_stale,
    )


def reap_stale_runs_sync() -> list[tuple[Run, int, dict]]:
    """Mark runs whose process died ``interrupted`` with their text so far (sync)."""
    ended = []
    for run_id in _stale_run_ids():
        if runner.local_execution(run_id) is not None:
            continue
        try:
            result = _interrupt(run_id)
        except Exception:
            logger.warning("interrupting run %s failed", run_id, exc_info=True)
            continue
        if result is not None:
            logger.warning("run %s was interrupted: its process stopped", run_id)
            ended.append(result)
    return ended


async def reap_stale_runs(writer: Any = None) -> int:
    if writer is not None:
        ended = await writer.run_sync(reap_stale_runs_sync)
    else:
        ended = await sync_to_async(reap_stale_runs_sync, thread_sensitive=False)()
    for run, seq, data in ended:
        await publish_event(run.pk, seq, "error", data)
    return len(ended)
