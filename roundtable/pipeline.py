"""The ``roundtable`` run: five analyses at once, the judge, the debate, the synthesis, the shots.

Stages (``status`` events): ``analysing`` (the five agents stream at once, each into its own
part, with ``agent_start``, ``agent_chunk``, then ``agent_complete`` or ``agent_error``),
``judging`` (a short call names the two agents that disagree most; its text is not shown),
``debating`` (``debate_start``, the challenger's question and the responder's answer as
``debate_chunk`` and ``debate_message``), ``synthesising`` (``synthesis_chunk``, then
``synthesis_complete``), ``shot_listing`` (``shots_chunk``, then ``shots_complete`` with the parsed
shots) and ``saving``. An agent that fails or runs out of time ends its own part, keeping its
text; the session goes on with the analyses that arrived, and needs at least two.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings

from generation.providers.base import ProviderError
from generation.runs.context import LLMResult, Part, RunContext
from generation.runs.errors import PartTimedOut, RunFailed
from generation.runs.models import PartStatus
from roundtable.agents import AGENT_BY_KEY, AGENTS
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
)
from roundtable.services import session_results_save
from roundtable.shots import parse_shots

MIN_ANALYSES = 2
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
    await ctx.progress("analysing", "Five agents are reading the brief")
    results = await ctx.parallel({agent.key: _analyse(table, agent.key) for agent in AGENTS})
    analyses = {key: text for key, text in results.items() if isinstance(text, str) and text}
    if len(analyses) < MIN_ANALYSES:
        raise RunFailed(
            "too_few_analyses",
            f"Only {len(analyses)} of the five analyses arrived; a synthesis needs at least "
            "two. Every text the agents wrote is kept.",
        )
    judgement, debate = await _debate(table, analyses)

    await ctx.progress("synthesising", "Writing the final video prompt")
    synthesis = ctx.part("synthesis", "Synthesis")
    result = await table.stream(
        synthesis,
        synthesis_request(table.brief, analyses, debate, notes=table.notes),
        budget="synthesis",
    )
    final_prompt = result.text
    await synthesis.emit("synthesis_complete", {"final_prompt": final_prompt})

    await ctx.progress("shot_listing", "Listing the shots")
    shots_part = ctx.part("shots", "Shot list")
    result = await table.stream(shots_part, shots_request(table.brief, final_prompt))
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


async def _analyse(table: _Table, key: str) -> str:
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
        result = await table.stream(part, analysis_request(table.brief, key, notes=table.notes))
    except Exception as exc:
        code, message = _failure(exc)
        await part.emit(
            "agent_error", {"agent": key, "code": code, "message": message, "text": part.text}
        )
        raise
    await part.emit(
        "agent_complete",
        {"agent": key, "response": result.text, "usage": _usage(result), "cost": str(result.cost)},
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
        result = await table.stream(judge, judge_request(table.brief, analyses))
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
    result = await table.stream(debate, request, who=speaker)
    await debate.emit("debate_message", {"from": speaker, "to": to, "message": result.text})
    return result.text
