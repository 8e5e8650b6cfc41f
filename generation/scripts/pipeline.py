"""The ``script`` run: brief -> draft -> validation -> up to two visible revisions -> version.

Stages (``progress`` events): ``loading_persona`` (when a persona is used), ``generating``,
``validating``, ``revising`` (with the reason), ``saving``. Each finished draft is saved as a
version (the first as ``run`` or ``continuation``, then ``revision``), so nothing paid for is
lost. A run that fails or is cancelled keeps its text as an incomplete version that can be
continued on another provider. The script's status follows the run's ending
(``services.script_run_ended``, the kind's ``on_end``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from generation.chain.notices import aroute_notice
from generation.runs.errors import RunFailed
from generation.scripts.constants import MAX_REVISIONS
from generation.scripts.live import ProgressTracker
from generation.scripts.models import Script, ScriptVersion, VersionSource
from generation.scripts.prompt import request_build
from generation.scripts.services import (
    RunOutput,
    cost_ceiling_of,
    script_brief_refresh,
    script_create,
    script_input_clean,
    script_mark_started,
    script_version_add,
)
from generation.scripts.validation import validate_script

if TYPE_CHECKING:
    from generation.runs.context import LLMResult, RunContext
    from generation.runs.models import Run


@dataclass(slots=True)
class _Job:
    script: Script
    brief: dict[str, Any]
    provider: str
    model: str | None
    continue_from: ScriptVersion | None
    user: Any
    max_cost: Decimal | None = None
    """The cost ceiling for fallbacks (``max_cost_usd``): a pricier fallback is skipped."""


def _prepare(run: Run) -> _Job:
    data = dict(run.input)
    user = run.created_by
    script: Script | None = None
    if data.get("script_id"):
        script = (
            Script.objects.select_related("template", "persona")
            .filter(pk=data["script_id"], project_id=run.project_id)
            .first()
        )
        if script is None:
            raise RunFailed("not_found", "The script of this run no longer exists.")
        brief = script_brief_refresh(script)
    else:
        from django.core.exceptions import ValidationError

        try:
            cleaned = script_input_clean(run.project, data)
        except ValidationError as exc:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise RunFailed("bad_request", details) from None
        script = script_create(project=run.project, user=user, cleaned=cleaned)
        brief = script.brief
    continue_from = None
    if data.get("continue_version") is not None:
        continue_from = script.versions.filter(number=int(data["continue_version"])).first()
        if continue_from is None:
            raise RunFailed("not_found", "The version to continue no longer exists.")
    script_mark_started(script, run.pk, run.created_by)
    return _Job(
        script=script,
        brief=brief,
        provider=str(data.get("provider") or "auto"),
        model=str(data.get("model") or "") or None,
        continue_from=continue_from,
        user=user,
        max_cost=cost_ceiling_of(data.get("max_cost_usd")),
    )


def _output(run: Run, result: LLMResult) -> RunOutput:
    return RunOutput(
        run_id=run.pk,
        provider=result.provider,
        model=result.model,
        cost=result.cost,
        input_tokens=result.usage.input_tokens,
        output_tokens=result.usage.output_tokens,
        usage_reported=result.usage.reported,
    )


def _save(
    job: _Job,
    run: Run,
    *,
    text: str,
    source: str,
    result: LLMResult | None,
    report: dict[str, Any] | None,
    parent: ScriptVersion | None,
    complete: bool = True,
    note: str = "",
    partial: RunOutput | None = None,
) -> ScriptVersion:
    output = _output(run, result) if result is not None else partial
    return script_version_add(
        job.script,
        text=text,
        source=source,
        user=job.user,
        complete=complete,
        output=output,
        validation=report,
        parent=parent,
        note=note,
    )


async def _db(ctx: RunContext, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a database function where the run's own writes happen."""
    return await ctx.run_sync(functools.partial(func, *args, **kwargs))


async def script_handler(ctx: RunContext) -> dict[str, Any]:
    job = await _db(ctx, _prepare, ctx.run)
    tracker = ProgressTracker(ctx, job.script.pk)
    ticker = asyncio.create_task(tracker.follow())
    try:
        return await _write(ctx, job, tracker)
    finally:
        ticker.cancel()


async def _write(ctx: RunContext, job: _Job, tracker: ProgressTracker) -> dict[str, Any]:
    run = ctx.run
    persona = job.brief.get("persona")
    if persona:
        await ctx.progress("loading_persona", f"Loading persona {persona.get('name')}")
    parent = job.continue_from
    saved_cost = Decimal("0")
    saved_tokens = (0, 0)
    try:
        if job.continue_from is not None:
            start_text = job.continue_from.text
            await ctx.reset_text(start_text, f"Continuing version {job.continue_from.number}")
            await ctx.progress(
                "generating", f"Continuing version {job.continue_from.number} on {job.provider}"
            )
            result = await ctx.stream_llm(
                request_build(job.brief, mode="continue"),
                provider=job.provider,
                model=job.model,
                continue_text=start_text,
                max_cost=job.max_cost,
            )
            text = start_text + result.text
            source = VersionSource.CONTINUATION
        else:
            await ctx.progress("generating", "Writing the script")
            result = await ctx.stream_llm(
                request_build(job.brief),
                provider=job.provider,
                model=job.model,
                max_cost=job.max_cost,
            )
            text = result.text
            source = VersionSource.RUN

        await ctx.progress("validating", "Checking key points, length and sections")
        report = validate_script(text, job.brief)
        revisions = 0
        history: list[dict[str, Any]] = []
        while not report["passed"] and revisions < MAX_REVISIONS:
            history.append({"attempt": revisions, "problems": report["problems"]})
            await ctx.progress("saving", f"Saving draft {revisions + 1} before revising")
            parent = await _db(
                ctx,
                _save,
                job,
                run,
                text=text,
                source=source,
                result=result,
                report=report,
                parent=parent,
            )
            saved_cost += result.cost
            saved_tokens = (
                saved_tokens[0] + result.usage.input_tokens,
                saved_tokens[1] + result.usage.output_tokens,
            )
            revisions += 1
            tracker.label = "Revising"
            reason = " ".join(report["problems"])
            await ctx.progress("revising", f"Revision {revisions} of {MAX_REVISIONS}: {reason}")
            await ctx.reset_text("", f"Revision {revisions}: {reason}")
            result = await ctx.stream_llm(
                request_build(
                    job.brief, mode="revise", previous_text=text, problems=report["problems"]
                ),
                provider=result.provider,
                model=result.model or job.model,
                max_cost=job.max_cost,
            )
            text = result.text
            source = VersionSource.REVISION
            await ctx.progress("validating", "Checking the revision")
            report = validate_script(text, job.brief)
        report["revisions"] = revisions
        report["history"] = history

        await ctx.progress("saving", "Saving the script")
        version = await _db(
            ctx,
            _save,
            job,
            run,
            text=text,
            source=source,
            result=result,
            report=report,
            parent=parent,
        )
    except BaseException as exc:
        inp, out, reported = ctx.usage_totals()
        unsaved = RunOutput(
            run_id=run.pk,
            provider=run.provider,
            model=run.model,
            cost=ctx.cost_total() - saved_cost,
            input_tokens=max(0, inp - saved_tokens[0]),
            output_tokens=max(0, out - saved_tokens[1]),
            usage_reported=reported,
        )
        await asyncio.shield(_db(ctx, _keep_partial, job, run, ctx.text, parent, exc, unsaved))
        raise
    notice = await aroute_notice(
        requested=job.provider,
        provider=result.provider,
        cost=ctx.cost_total(),
        expected_cost=run.expected_cost,
        attempts=list(run.attempts),
    )
    return {
        "script_id": job.script.pk,
        "version": version.number,
        "validation": report,
        "notice": notice,
    }


def _keep_partial(
    job: _Job,
    run: Run,
    text: str,
    parent: ScriptVersion | None,
    exc: BaseException,
    unsaved: RunOutput,
) -> None:
    cancelled = isinstance(exc, asyncio.CancelledError)
    if text.strip() and not (parent is not None and parent.text == text):
        what = "cancelled" if cancelled else f"stopped: {exc}"
        _save(
            job,
            run,
            text=text,
            source=VersionSource.CONTINUATION if job.continue_from else VersionSource.RUN,
            result=None,
            report=None,
            parent=parent,
            complete=False,
            note=f"Run {what}",
            partial=unsaved,
        )
