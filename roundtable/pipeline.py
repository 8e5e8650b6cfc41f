"""The ``roundtable`` run: five analyses at once, the judge, the debate, the synthesis, the shots.

Stages (``status`` events): ``analysing`` (the five agents stream at once, each into its own
part, with ``agent_start``, ``agent_chunk``, then ``agent_complete`` or ``agent_error``),
``judging`` (a short call names the two agents that disagree most; its text is not shown),
``debating`` (``debate_start``, the challenger's question and the responder's answer as
``debate_chunk`` and ``debate_message``), ``synthesising`` (``synthesis_chunk``, then
``synthesis_complete``), ``shot_listing`` (``shots_chunk``, then ``shots_complete`` with the parsed
shots) and ``saving``. An agent that fails or runs out of time ends its own part, keeping its
text; the session goes on with the analyses that arrived, and needs at least two.

The chair (``roundtable.chair``): the people's notes, answers, pins and vetoes are read again
before every prompt is built, and go into it. An agent that ends its analysis with a question
makes the session pause before the synthesis (``waiting``): the run's core stores every part and
releases the run (``ctx.pause``), so no process, coroutine or token is spent while it waits; an
answer wakes it (or the expiry does, and the agent's default stands), and this handler continues
from its stored state with the analyses, the judge's pick and the debate as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from aura_site.money import plain
from generation.providers.base import ProviderError
from generation.runs.context import LLMResult, Part, RunContext
from generation.runs.errors import PartTimedOut, RunFailed
from generation.runs.events import RunLost
from generation.runs.models import PartStatus
from roundtable.agents import AGENT_BY_KEY, AGENTS
from roundtable.chair import (
    ChairContext,
    chair_context,
    expiry,
    marks_check,
    pending_events,
    question_parse,
    question_strip,
    questions_create,
    questions_open,
    questions_time_out,
    request_event,
)
from roundtable.prompts import (
    Judgement,
    analysis_request,
    debate_answer_request,
    debate_question_request,
    judge_fallback,
    judge_parse,
    judge_request,
    shots_request,
    synthesis_request,
    synthesis_revision_request,
    with_chair,
)
from roundtable.services import session_results_save
from roundtable.shots import parse_shots

logger = logging.getLogger(__name__)

MIN_ANALYSES = 2
WATCH_SECONDS = 0.5
"""How often a running session looks for what the chair added (to show it to everyone)."""
DEBATE_STRENGTH = 0.5
"""In ``auto`` mode the judge's pick is debated when their disagreement is at least this strong
(the judge rates it from 0 to 1)."""


def limits() -> dict[str, float]:
    return {
        "first_token": float(settings.AURA_ROUNDTABLE_FIRST_TOKEN_SECONDS),
        "agent": float(settings.AURA_ROUNDTABLE_AGENT_SECONDS),
        "synthesis": float(settings.AURA_ROUNDTABLE_SYNTHESIS_SECONDS),
    }


def _usage(result: LLMResult) -> dict[str, Any]:
    return {
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "reported": result.usage.reported,
    }


def _failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, PartTimedOut):
        return exc.code, exc.message
    if isinstance(exc, ProviderError):
        return exc.kind.value, str(exc)
    if isinstance(exc, RunFailed):
        return exc.code, exc.message
    return "internal_error", "This part failed unexpectedly."


class _Table:
    """One session's run: its input and the provider each part asks for."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        data = ctx.run.input
        self.session_id = int(data["session_id"])
        self.brief: dict[str, Any] = data["brief"]
        self.choices: dict[str, dict[str, str]] = data["choices"]
        self.debate_mode = str(data.get("debate") or "auto")
        self.notes: list[str] = list(data.get("notes") or [])
        self.limits = limits()

    async def chair(self) -> ChairContext:
        """What the chair has said so far (read again before every prompt)."""
        context = await self.ctx.run_sync(lambda: chair_context(self.session_id))
        context.notes = [*self.notes, *context.notes]
        return context

    async def sweep(self) -> None:
        """Write the chair's entries not yet in the log as events."""
        items = await self.ctx.run_sync(lambda: pending_events(self.session_id))
        for event, data, part in items:
            await self.ctx.emit(event, data, part=part)

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.sweep()
            except (asyncio.CancelledError, RunLost):
                raise
            except Exception:
                logger.warning("run %s: reading the chair failed", self.ctx.run.pk, exc_info=True)

    def choice(self, part: str) -> tuple[str, str | None]:
        chosen = self.choices.get(part) or self.choices["default"]
        return chosen["requested"], chosen.get("model") or None

    async def stream(
        self, part: Part, request: Any, *, budget: str = "agent", who: str = ""
    ) -> LLMResult:
        provider, model = self.choice(who or part.key)
        return await part.stream_llm(
            request,
            provider=provider,
            model=model,
            time_limit=self.limits[budget],
            first_token_limit=self.limits["first_token"],
        )


async def roundtable_handler(ctx: RunContext) -> dict[str, Any]:
    table = _Table(ctx)
    watcher = asyncio.create_task(table.watch(), name=f"{ctx.run.pk}-chair")
    try:
        return await _session(table, watcher)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, RunLost, Exception):
            await watcher


async def _session(table: _Table, watcher: asyncio.Task[None]) -> dict[str, Any]:
    ctx = table.ctx
    state = dict(ctx.run.state)
    if state.get("resume") == "synthesis":
        await table.sweep()
        analyses: dict[str, str] = dict(state["analyses"])
        judgement: dict[str, Any] = dict(state["judgement"])
        debate: list[dict[str, str]] = list(state["debate"])
        await _answers_settle(table, state, watcher)
    else:
        await ctx.progress("analysing", "Five agents are reading the brief")
        chair = await table.chair()
        results = await ctx.parallel(
            {agent.key: _analyse(table, agent.key, chair) for agent in AGENTS}
        )
        analyses = {key: text for key, text in results.items() if isinstance(text, str) and text}
        if len(analyses) < MIN_ANALYSES:
            raise RunFailed(
                "too_few_analyses",
                f"Only {len(analyses)} of the five analyses arrived; a synthesis needs at least "
                "two. Every text the agents wrote is kept.",
            )
        judgement, debate = await _debate(table, analyses)
        await _ask(
            table,
            {"resume": "synthesis", "analyses": analyses, "judgement": judgement, "debate": debate},
            watcher,
        )

    await ctx.progress("synthesising", "Writing the final video prompt")
    chair = await table.chair()
    synthesis = ctx.part("synthesis", "Synthesis")
    readable = {key: question_strip(text) for key, text in analyses.items()}
    result = await table.stream(
        synthesis,
        with_chair(
            synthesis_request(table.brief, readable, debate),
            chair.notes,
            chair.answers,
            chair.pins,
            chair.vetoes,
        ),
        budget="synthesis",
    )
    final_prompt = await _marks_hold(table, synthesis, result.text, chair)
    await synthesis.emit("synthesis_complete", {"final_prompt": final_prompt})

    await ctx.progress("shot_listing", "Listing the shots")
    shots_part = ctx.part("shots", "Shot list")
    chair = await table.chair()
    result = await table.stream(
        shots_part,
        with_chair(shots_request(table.brief, final_prompt), chair.notes, chair.answers),
    )
    shot_list = parse_shots(result.text, int(table.brief["duration_seconds"]))
    shots = [shot.as_dict() for shot in shot_list.shots]
    shots_part.set(
        result={
            "shots": shots,
            "parsed": shot_list.parsed,
            "scaled": shot_list.scaled,
            "note": shot_list.note,
        }
    )
    await shots_part.emit(
        "shots_complete",
        {
            "suggested_shots": result.text,
            "shots": shots,
            "parsed": shot_list.parsed,
            "scaled": shot_list.scaled,
            "note": shot_list.note,
        },
    )

    await ctx.progress("saving", "Saving the session")
    await ctx.run_sync(
        lambda: session_results_save(
            table.session_id,
            judgement=judgement,
            debate=debate,
            synthesis=final_prompt,
            shots_raw=result.text,
            shots=shots,
            parsed=shot_list.parsed,
            note=shot_list.note,
        )
    )
    return {"session_id": table.session_id}


async def _ask(table: _Table, state: dict[str, Any], watcher: asyncio.Task[None]) -> None:
    """The agents' questions to the chair, if any asked one: each as ``user_input_request``,
    then the pause (which does not return)."""
    ctx = table.ctx
    asked = [
        (agent.key, found)
        for agent in AGENTS
        if (found := question_parse(state["analyses"].get(agent.key, ""))) is not None
    ]
    if not asked:
        return
    until = expiry()
    questions = await ctx.run_sync(lambda: questions_create(table.session_id, asked, until))
    for question in questions:
        event, data, part = request_event(question)
        await ctx.emit(event, data, part=part)
    await _pause(table, state, until, watcher)


async def _pause(
    table: _Table, state: dict[str, Any], until: Any, watcher: asyncio.Task[None]
) -> None:
    ctx = table.ctx
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    await table.sweep()
    count = await ctx.run_sync(lambda: len(questions_open(table.session_id)))
    await ctx.progress(
        "waiting",
        "Waiting for the chair: "
        + ("an agent asks a question" if count == 1 else f"{count} questions from the agents")
        + f" (until {timezone.localtime(until):%H:%M}, then the agents' defaults stand)",
    )
    raise ctx.pause(until, state)


async def _answers_settle(
    table: _Table, state: dict[str, Any], watcher: asyncio.Task[None]
) -> None:
    """After a wake-up: the questions still open past their expiry take their default (each a
    ``user_input_response`` with ``timed_out``); one still open before it pauses again."""
    ctx = table.ctx
    timed_out = await ctx.run_sync(lambda: questions_time_out(table.session_id))
    for event, data, part in timed_out:
        await ctx.emit(event, data, part=part)
    still = await ctx.run_sync(lambda: questions_open(table.session_id))
    if still:
        await _pause(table, state, min(q.expires_at for q in still), watcher)
    if timed_out:
        names = ", ".join(
            f"the {AGENT_BY_KEY[data['agent']].name}'s “{data['answer']}”"
            for _, data, _ in timed_out
            if data.get("agent") in AGENT_BY_KEY
        )
        await ctx.progress(
            "synthesising", f"No answer from the chair in time: going on with {names}"
        )
    else:
        await ctx.progress("synthesising", "The chair answered: the session goes on")


async def _marks_hold(table: _Table, synthesis: Part, text: str, chair: ChairContext) -> str:
    """Check the synthesis against the pinned and vetoed points (``chair.marks_check``); on a
    violation, one visible revision (a reset of its text, then the revised prompt streaming in,
    billed as its own call) and a second check."""
    if not chair.pins and not chair.vetoes:
        return text
    ctx = table.ctx
    brief = str(table.brief.get("brief") or "")
    check = marks_check(text, chair.pins, chair.vetoes, brief)
    await synthesis.emit(
        "chair_check",
        {"ok": check.ok, "missing": check.missing, "present": check.present, "revision": 0},
    )
    if check.ok:
        return text
    reasons = []
    if check.missing:
        reasons.append(f"{len(check.missing)} pinned point(s) missing")
    if check.present:
        reasons.append(f"{len(check.present)} vetoed point(s) present")
    await synthesis.reset_text("", "Revising the final prompt: " + " and ".join(reasons))
    await ctx.progress("synthesising", "Revising the final prompt for the chair's pins and vetoes")
    result = await table.stream(
        synthesis,
        synthesis_revision_request(table.brief, text, check.missing, check.present),
        budget="synthesis",
    )
    again = marks_check(result.text, chair.pins, chair.vetoes, brief)
    await synthesis.emit(
        "chair_check",
        {"ok": again.ok, "missing": again.missing, "present": again.present, "revision": 1},
    )
    return result.text


async def _analyse(table: _Table, key: str, chair: ChairContext) -> str:
    ctx = table.ctx
    agent = AGENT_BY_KEY[key]
    part = ctx.part(key, agent.name)
    chosen = table.choices.get(key) or table.choices["default"]
    part.start(provider=chosen["provider"], model=chosen.get("model_shown", ""))
    await part.emit(
        "agent_start",
        {
            "agent": key,
            "name": agent.name,
            "provider": chosen["provider"],
            "model": chosen.get("model_shown", ""),
        },
    )
    try:
        result = await table.stream(
            part, with_chair(analysis_request(table.brief, key), chair.notes, chair.answers)
        )
    except Exception as exc:
        code, message = _failure(exc)
        await part.emit(
            "agent_error", {"agent": key, "code": code, "message": message, "text": part.text}
        )
        raise
    await part.emit(
        "agent_complete",
        {
            "agent": key,
            "response": result.text,
            "usage": _usage(result),
            "cost": plain(result.cost),
        },
    )
    return result.text


async def _debate(
    table: _Table, analyses: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The judge's pick (and whether it was debated) and the debate's messages."""
    ctx = table.ctx
    if table.debate_mode == "never":
        return {}, []
    await ctx.progress("judging", "Looking for the strongest disagreement")
    judge = ctx.part("judge", "Judge")
    judgement: Judgement | None = None
    try:
        chair = await table.chair()
        result = await table.stream(
            judge, with_chair(judge_request(table.brief, analyses), chair.notes)
        )
        judgement = judge_parse(result.text, list(analyses))
    except (ProviderError, PartTimedOut) as exc:
        code, message = _failure(exc)
        judge.end(PartStatus.FAILED, code, message)
    if judgement is None:
        judgement = judge_fallback(analyses)
    picked = dataclasses.asdict(judgement)
    debated = table.debate_mode == "always" or judgement.strength >= DEBATE_STRENGTH
    picked["debated"] = debated
    judge.set(result=picked)
    if judge.is_active:
        judge.end(PartStatus.SUCCEEDED)
    if not debated:
        await ctx.progress(
            "judging", "No strong disagreement between the agents: the synthesis follows."
        )
        return picked, []

    challenger, responder = judgement.challenger, judgement.responder
    names = AGENT_BY_KEY[challenger].name, AGENT_BY_KEY[responder].name
    await ctx.progress("debating", f"{names[0]} challenges {names[1]}: {judgement.topic}")
    await ctx.emit(
        "debate_start",
        {"challenger": challenger, "responder": responder, "topic": judgement.topic},
    )
    debate = ctx.part("debate", "Debate")
    messages: list[dict[str, str]] = []
    try:
        question = await _speak(
            table,
            debate,
            challenger,
            responder,
            debate_question_request(table.brief, analyses, judgement),
        )
        messages.append({"from": challenger, "to": responder, "message": question})
        debate.set(result={"messages": messages})
        answer = await _speak(
            table,
            debate,
            responder,
            challenger,
            debate_answer_request(table.brief, analyses, judgement, question),
        )
        messages.append({"from": responder, "to": challenger, "message": answer})
        debate.set(result={"messages": messages})
    except (ProviderError, PartTimedOut) as exc:
        code, message = _failure(exc)
        debate.end(PartStatus.FAILED, code, message)
        await ctx.progress("debating", f"The debate stopped ({message}); the synthesis follows.")
    return picked, messages


async def _speak(table: _Table, debate: Part, speaker: str, to: str, request: Any) -> str:
    debate.extra["speaker"] = speaker
    debate.dom_id = f"{table.ctx.run.dom_id}-debate-{speaker}"
    chair = await table.chair()
    result = await table.stream(debate, with_chair(request, chair.notes), who=speaker)
    await debate.emit("debate_message", {"from": speaker, "to": to, "message": result.text})
    return result.text
