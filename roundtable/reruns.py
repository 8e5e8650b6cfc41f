"""Re-running one part of a finished session: an agent (optionally on another provider, with a
note), the debate (and then the synthesis and the shot list built on it), the synthesis (and
then the shot list, which is built from it) or the shot list.

A re-run is a run of its own, of kind ``roundtable_rerun``: its own events, cost records and
correlation id, so its ledger shows exactly the calls it made, and the session's run (whose log
ended with its terminal event) is never reopened. It reads the current version of every other
part and writes only its own parts; each becomes a new ``PartVersion`` (who asked, when, the
provider, the cost) linked to the run. Re-running an analysis or the debate leaves the synthesis
as it is, marked built on an earlier version (``versions.synthesis_stale``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.template.loader import render_to_string

from aura_site.money import plain
from aura_site.projects import live
from aura_site.projects.models import Activity
from generation.chain.policy import NoProviderAvailable, provider_choose
from generation.costs.budgets import chain_ceiling
from generation.costs.services import cost_from_quote, price_for
from generation.costs.tokens import estimate_tokens
from generation.runs.context import RunContext
from generation.runs.kinds import DoneInfo, KindSpec, register
from generation.runs.models import Run
from generation.runs.services import RunDraft, run_create, run_prepare
from roundtable import kind as roundtable_kind
from roundtable.agents import AGENT_BY_KEY, AGENT_KEYS
from roundtable.chair import ChairClosed, question_strip
from roundtable.models import PartVersion, Session, SessionStatus, VersionStatus
from roundtable.pipeline import _marks_hold, _speak, _Table
from roundtable.prompts import (
    ANALYSIS_MAX_TOKENS,
    DEBATE_MAX_TOKENS,
    SHOTS_MAX_TOKENS,
    SYNTHESIS_MAX_TOKENS,
    Judgement,
    analysis_request,
    debate_answer_request,
    debate_question_request,
    judge_fallback,
    shots_request,
    synthesis_request,
    with_chair,
)
from roundtable.shots import parse_shots
from roundtable.versions import RERUN_KIND, RERUN_PARTS, next_number, versions_current

KIND_RERUN = RERUN_KIND
NOTE_MAX = 500
OUTPUT_TOKENS = {
    "debate": 2 * DEBATE_MAX_TOKENS,
    "synthesis": SYNTHESIS_MAX_TOKENS,
    "shots": SHOTS_MAX_TOKENS,
}


class RerunBusy(Exception):
    """A re-run of this session is already under way (409)."""


def parts_of(part: str) -> list[str]:
    """The parts a re-run of ``part`` runs: the synthesis follows a new debate, and the shot
    list a new synthesis."""
    if part == "debate":
        return ["debate", "synthesis", "shots"]
    return ["synthesis", "shots"] if part == "synthesis" else [part]


@dataclass(frozen=True, slots=True)
class RerunDraft:
    draft: RunDraft
    session: Session
    part: str
    note: str


def rerun_prepare(
    user: Any,
    session: Session,
    part: str,
    *,
    provider: str = "",
    model: str = "",
    note: str = "",
    correlation_id: str = "",
) -> RerunDraft:
    """Check and price a re-run of ``part`` for an editor (the caller has checked the role)."""
    if part not in RERUN_PARTS:
        raise ValidationError({"part": "Re-run an agent, debate, synthesis or shots."})
    note = " ".join(str(note or "").split())
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": f"A note is at most {NOTE_MAX} characters."})
    if session.is_active or session.status != SessionStatus.SUCCEEDED or session.run is None:
        raise ChairClosed("Only a finished session's parts can be re-run.")
    if PartVersion.objects.filter(session=session, status=VersionStatus.RUNNING).exists():
        raise RerunBusy("A part of this session is being re-run; wait for it to finish.")
    current = versions_current(session.pk)
    if "synthesis" not in current:
        raise ChairClosed("This session has no synthesis to build on.")
    original = session.run.input
    choices: dict[str, dict[str, str]] = dict(original["choices"])
    chosen_provider = provider or choices.get(part, choices["default"])["requested"]
    try:
        choice = provider_choose(
            chosen_provider or "auto", model or None, require_configured=bool(provider)
        )
    except NoProviderAvailable as exc:
        raise ValidationError({"provider": str(exc)}) from None
    if provider or model:
        chosen = {
            "requested": choice.requested,
            "provider": choice.provider,
            "model": model,
            "model_shown": choice.model,
        }
        for key in parts_of(part):
            choices[key] = chosen
    brief = original["brief"]
    analyses = {key: current[key].text for key in AGENT_KEYS if key in current}
    debate = current.get("debate")
    run_input = {
        "session_id": session.pk,
        "part": part,
        "note": note,
        "brief": brief,
        "choices": choices,
        "debate": "always",
        "notes": [],
        "analyses": analyses,
        "debate_messages": list(debate.result.get("messages") or []) if debate else [],
        "judgement": dict(session.judgement or {}),
        "synthesis": current["synthesis"].text,
        "versions": {key: version.number for key, version in current.items()},
    }
    tokens_in = estimate_tokens(
        "\n".join(
            [str(brief.get("brief") or ""), *analyses.values(), current["synthesis"].text, note]
        )
    )
    expected = ceiling = Decimal("0")
    for key in parts_of(part):
        out = OUTPUT_TOKENS.get(key, ANALYSIS_MAX_TOKENS)
        expected += cost_from_quote(price_for(choice.provider, choice.model), tokens_in, out // 2)
        ceiling += chain_ceiling(list(choice.chain), choice.model, tokens_in, out)
    draft = run_prepare(
        user=user,
        project=session.project,
        kind=KIND_RERUN,
        input=run_input,
        provider_requested=choice.requested,
        provider=choice.provider,
        model=choice.model,
        expected_tokens=sum(OUTPUT_TOKENS.get(k, 350) // 2 for k in parts_of(part)),
        expected_cost=expected,
        cost_ceiling=max(expected, ceiling),
        correlation_id=correlation_id,
    )
    return RerunDraft(draft, session, part, note)


def rerun_create_for(prepared: RerunDraft) -> Any:
    """``with_run`` of ``run_create``: a running version of each part the re-run writes."""

    def create(run: Run) -> None:
        session = prepared.session
        for key in parts_of(prepared.part):
            PartVersion.objects.create(
                session=session,
                part=key,
                number=next_number(session.pk, key),
                run=run,
                status=VersionStatus.RUNNING,
                provider=run.provider,
                model=run.model,
                asked_by=run.created_by,
                note=prepared.note,
            )
        label = AGENT_BY_KEY[prepared.part].name if prepared.part in AGENT_BY_KEY else prepared.part
        Activity.objects.create(
            project_id=session.project_id,
            actor=run.created_by,
            verb=f"re-ran the {label} of the roundtable “{session.title}”"[:200],
        )
        live.project_changed(session.project_id, ["roundtables"])

    return create


def rerun_start(prepared: RerunDraft) -> Run:
    """Create the re-run's run and its versions (sync; the caller has checked the role)."""
    return run_create(prepared.draft, with_run=rerun_create_for(prepared))


# ---- the run --------------------------------------------------------------------------------


async def rerun_handler(ctx: RunContext) -> dict[str, Any]:
    table = _Table(ctx)
    data = ctx.run.input
    part_key = str(data["part"])
    note = str(data.get("note") or "")
    if note:
        table.notes.append(note)
    chair = await table.chair()
    notes = chair.notes
    analyses: dict[str, str] = dict(data.get("analyses") or {})
    await ctx.progress("rerunning", f"Re-running the {_label(part_key)}")
    if part_key in AGENT_BY_KEY:
        await _agent(table, part_key, notes, chair.answers)
        return {"session_id": table.session_id, "part": part_key}
    messages = list(data.get("debate_messages") or [])
    if part_key == "debate":
        messages = await _debate(table, analyses)
    synthesis_text = str(data.get("synthesis") or "")
    if part_key in ("debate", "synthesis"):
        readable = {key: question_strip(text) for key, text in analyses.items()}
        synthesis = ctx.part("synthesis", "Synthesis")
        await ctx.progress("synthesising", "Writing the final prompt")
        result = await table.stream(
            synthesis,
            with_chair(
                synthesis_request(table.brief, readable, messages),
                notes,
                chair.answers,
                chair.pins,
                chair.vetoes,
            ),
            budget="synthesis",
        )
        synthesis_text = await _marks_hold(table, synthesis, result.text, chair)
        await synthesis.emit("synthesis_complete", {"final_prompt": synthesis_text})
    shots_part = ctx.part("shots", "Shot list")
    result = await table.stream(
        shots_part,
        with_chair(shots_request(table.brief, synthesis_text), notes, chair.answers),
    )
    shot_list = parse_shots(result.text, int(table.brief["duration_seconds"]))
    shots = [shot.as_dict() for shot in shot_list.shots]
    fields = {"parsed": shot_list.parsed, "scaled": shot_list.scaled, "note": shot_list.note}
    shots_part.set(result={"shots": shots, **fields})
    await shots_part.emit(
        "shots_complete", {"suggested_shots": result.text, "shots": shots, **fields}
    )
    return {"session_id": table.session_id, "part": part_key}


def _label(key: str) -> str:
    agent = AGENT_BY_KEY.get(key)
    return agent.name if agent else {"shots": "shot list"}.get(key, key)


async def _agent(table: _Table, key: str, notes: list[str], answers: list[dict[str, Any]]) -> None:
    ctx = table.ctx
    agent = AGENT_BY_KEY[key]
    part = ctx.part(key, agent.name)
    chosen = table.choices.get(key) or table.choices["default"]
    start = {"provider": chosen["provider"], "model": chosen.get("model_shown", "")}
    part.start(**start)
    await part.emit("agent_start", {"agent": key, "name": agent.name, **start})
    result = await table.stream(
        part, with_chair(analysis_request(table.brief, key), notes, answers)
    )
    await part.emit(
        "agent_complete",
        {
            "agent": key,
            "response": result.text,
            "usage": {
                "input_tokens": result.usage.input_tokens,
                "output_tokens": result.usage.output_tokens,
                "reported": result.usage.reported,
            },
            "cost": plain(result.cost),
        },
    )


async def _debate(table: _Table, analyses: dict[str, str]) -> list[dict[str, str]]:
    ctx = table.ctx
    picked = ctx.run.input.get("judgement") or {}
    if picked.get("challenger") in analyses and picked.get("responder") in analyses:
        judgement = Judgement(
            picked["challenger"],
            picked["responder"],
            str(picked.get("topic") or ""),
            float(picked.get("strength") or 0),
        )
    else:
        judgement = judge_fallback(analyses)
    await ctx.emit(
        "debate_start",
        {
            "challenger": judgement.challenger,
            "responder": judgement.responder,
            "topic": judgement.topic,
        },
    )
    debate = ctx.part("debate", "Debate")
    messages: list[dict[str, str]] = []
    question = await _speak(
        table,
        debate,
        judgement.challenger,
        judgement.responder,
        debate_question_request(table.brief, analyses, judgement),
    )
    messages.append({"from": judgement.challenger, "to": judgement.responder, "message": question})
    answer = await _speak(
        table,
        debate,
        judgement.responder,
        judgement.challenger,
        debate_answer_request(table.brief, analyses, judgement, question),
    )
    messages.append({"from": judgement.responder, "to": judgement.challenger, "message": answer})
    debate.set(
        result={"messages": messages, **judgement.as_dict(), "debated": True},
    )
    return messages


_VERSION_STATUS = {
    "succeeded": VersionStatus.SUCCEEDED,
    "cancelled": VersionStatus.CANCELLED,
}


def rerun_ended(run: Run, status: str) -> None:
    """The re-run kind's ``on_end``: its versions take its parts' texts, results, providers
    and costs; a finished synthesis, shot list or debate becomes the session's."""
    versions = list(PartVersion.objects.filter(run=run, status=VersionStatus.RUNNING))
    parts = {part.key: part for part in run.parts.all()}
    state = _VERSION_STATUS.get(str(status), VersionStatus.FAILED)
    now_read = dict(run.input.get("versions") or {})
    session = Session.objects.filter(pk=run.input.get("session_id")).first()
    for version in versions:
        part = parts.get(version.part)
        done = state == VersionStatus.SUCCEEDED and part is not None and part.status == "succeeded"
        version.status = (
            VersionStatus.SUCCEEDED
            if done
            else (state if state != VersionStatus.SUCCEEDED else VersionStatus.FAILED)
        )
        if part is not None:
            version.text = part.text
            version.result = part.result
            version.provider = part.provider or version.provider
            version.model = part.model or version.model
            version.cost = part.cost
        if version.part == "synthesis":
            version.based_on = {k: v for k, v in now_read.items() if k in (*AGENT_KEYS, "debate")}
            debate = next((v for v in versions if v.part == "debate"), None)
            if debate is not None:
                version.based_on["debate"] = debate.number
        if version.part == "shots":
            synthesis = next((v for v in versions if v.part == "synthesis"), None)
            version.based_on = {
                "synthesis": synthesis.number if synthesis else now_read.get("synthesis", 0)
            }
        version.save()
        if done and session is not None and part is not None:
            _session_take(session, version.part, part)
    if session is not None:
        live.project_changed(session.project_id, ["roundtables"])


def _session_take(session: Session, key: str, part: Any) -> None:
    if key == "synthesis":
        Session.objects.filter(pk=session.pk).update(synthesis=part.text)
    elif key == "shots":
        result = part.result or {}
        Session.objects.filter(pk=session.pk).update(
            shots_raw=part.text,
            shots=result.get("shots") or [],
            shots_parsed=bool(result.get("parsed")),
            shots_note=str(result.get("note") or "")[:300],
        )
    elif key == "debate":
        Session.objects.filter(pk=session.pk).update(
            debate=(part.result or {}).get("messages") or []
        )


# ---- the kind -------------------------------------------------------------------------------

RERUN_PANEL = "roundtable/rerun_panel.html"


def _run_event_fields(run: Run) -> dict[str, Any]:
    return {
        "run_id": str(run.pk),
        "kind": KIND_RERUN,
        "session_id": run.input.get("session_id"),
        "part": run.input.get("part"),
        "expected_cost": plain(run.expected_cost),
        "cost_ceiling": plain(run.cost_ceiling),
    }


def _done_fields(info: DoneInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "session_id": info.extra.get("session_id"),
        "part": info.extra.get("part"),
        "usage": info.usage,
        "cost": info.cost,
        "costs": info.part_costs,
        "duration_ms": info.duration_ms,
    }


def rerun_panel_context(snapshot: Any) -> dict[str, Any]:
    context = roundtable_kind.panel_context(snapshot)
    part = str(snapshot.run.input.get("part") or "")
    ran = parts_of(part)
    context["cards"] = [
        {**card, "can_mark": False} for card in context["cards"] if card["key"] in ran
    ]
    context["rerun_label"] = _label(part)
    context["ran"] = ran
    context["chair"] = None
    return context


def rerun_html(run_id: Any, can_edit: bool) -> str:
    """A re-run's live panel, for the session's page."""
    from generation.runs.selectors import panel_context, run_snapshot

    snapshot = run_snapshot(run_id)
    return render_to_string(f"{RERUN_PANEL}#live", panel_context(snapshot, can_edit=can_edit))


RERUN = KindSpec(
    name=KIND_RERUN,
    label="Roundtable re-run",
    panel=RERUN_PANEL,
    handler=rerun_handler,
    parts=(),
    text_part=None,
    part_events=roundtable_kind.PART_EVENTS,
    stage_event="status",
    stage_labels={**roundtable_kind.STAGE_LABELS, "rerunning": "Re-running one part"},
    timeout_seconds=roundtable_kind.session_seconds,
    done_fields=_done_fields,
    run_event_fields=_run_event_fields,
    on_end=rerun_ended,
    live=roundtable_kind.live,
    live_metrics=roundtable_kind.live_metrics,
    panel_context=rerun_panel_context,
    part_dom_id=roundtable_kind._dom_id,
)


def register_rerun_kind() -> None:
    register(RERUN)
