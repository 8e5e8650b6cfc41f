"""Writes of roundtable sessions: check a request, quote it, start it, save what it produced,
and follow its run's ending.

A session request (../shared/API.md §3 "Roundtables", and the page's form) is checked against
its project by ``session_input_clean`` (a ``ValidationError`` per field). ``session_prepare``
turns it into the run's draft: the brief the prompts are built from, the provider every part
asks for (and the one it will start on), and the expected cost of the whole session.
``session_start`` creates the run and its session in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from aura_site.projects import live
from aura_site.projects.models import Activity, Character, Location, Project, Series
from generation.chain.policy import NoProviderAvailable, ProviderChoice, provider_choose
from generation.costs.budgets import chain_ceiling
from generation.costs.services import cost_from_quote, price_for
from generation.costs.tokens import estimate_tokens
from generation.runs.models import Run
from generation.runs.services import RunDraft, run_create, run_prepare
from roundtable.agents import AGENT_KEYS
from roundtable.models import DebateMode, Session, SessionStatus
from roundtable.norms import NORMS
from roundtable.prompts import (
    ANALYSIS_MAX_TOKENS,
    DEBATE_MAX_TOKENS,
    JUDGE_MAX_TOKENS,
    SHOTS_MAX_TOKENS,
    SYNTHESIS_MAX_TOKENS,
    analysis_request,
    brief_build,
)
from roundtable.versions import versions_seed

KIND = "roundtable"
BRIEF_MIN, BRIEF_MAX = 10, 5000
DURATION_MIN, DURATION_MAX = 5, 600

# What each later part reads and writes, in tokens, for the quote (the analyses it reads are
# not written yet when the session is priced).
ANALYSIS_TOKENS = 350
MAX_OUTPUT = {
    "judge": JUDGE_MAX_TOKENS,
    "debate": 2 * DEBATE_MAX_TOKENS,
    "synthesis": SYNTHESIS_MAX_TOKENS,
    "shots": SHOTS_MAX_TOKENS,
}
"""The output each later part may reach (the debate: a question and an answer)."""
LATER_PARTS = {
    # part: (input tokens beyond the brief's prompt, output tokens)
    "judge": (5 * ANALYSIS_TOKENS, 80),
    "debate": (5 * ANALYSIS_TOKENS + 200, 2 * 220),
    "synthesis": (5 * ANALYSIS_TOKENS + 440, 450),
    "shots": (450, 650),
}


@dataclass(frozen=True, slots=True)
class Quote:
    """The expected cost of a session at the providers each part starts on, and the range
    fallback could move it in (the cheapest and the dearest provider of each part's chain)."""

    expected: Decimal
    low: Decimal
    high: Decimal
    ceiling: Decimal = Decimal(0)
    """The most the session may spend: each call's maximum output on every provider of its
    chain."""

    @property
    def is_range(self) -> bool:
        return self.low != self.high


def _ids(value: Any, field: str, errors: dict[str, str]) -> list[int]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list | tuple) else [value]
    try:
        return sorted({int(item) for item in items})
    except (TypeError, ValueError):
        errors[field] = "Give the ids of this project's items."
        return []


def session_input_clean(project: Project, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of a session request, checked against ``project``: raises ``ValidationError``
    with a message per field."""
    errors: dict[str, str] = {}
    brief = str(data.get("brief") or "").strip()
    if len(brief) < BRIEF_MIN:
        errors["brief"] = f"Give a brief of at least {BRIEF_MIN} characters."
    elif len(brief) > BRIEF_MAX:
        errors["brief"] = f"Keep the brief under {BRIEF_MAX:,} characters."
    platform = str(data.get("platform") or "")
    norms = NORMS.get(platform)
    if norms is None:
        errors["platform"] = "Choose a platform: " + ", ".join(NORMS) + "."
    raw_duration = data.get("duration_seconds")
    duration = 0
    if raw_duration in (None, ""):
        duration = norms.default_seconds if norms else 0
    else:
        try:
            duration = int(str(raw_duration))
        except ValueError:
            errors["duration_seconds"] = "The duration is a whole number of seconds."
    if "duration_seconds" not in errors and not DURATION_MIN <= duration <= DURATION_MAX:
        errors["duration_seconds"] = (
            f"The duration must be {DURATION_MIN} to {DURATION_MAX} seconds."
        )
    series: Series | None = None
    if data.get("series") not in (None, ""):
        try:
            series = Series.objects.filter(project=project, pk=int(str(data["series"]))).first()
        except ValueError:
            series = None
        if series is None:
            errors["series"] = "No such series in this project."
    character_ids = _ids(data.get("characters"), "characters", errors)
    characters = list(Character.objects.filter(project=project, pk__in=character_ids))
    if len(characters) != len(character_ids):
        errors["characters"] = "Some of these characters are not in this project."
    location_ids = _ids(data.get("locations"), "locations", errors)
    locations = list(Location.objects.filter(project=project, pk__in=location_ids))
    if len(locations) != len(location_ids):
        errors["locations"] = "Some of these locations are not in this project."
    provider = str(data.get("provider") or "auto")
    agents_in = data.get("agents") or {}
    agents: dict[str, dict[str, str]] = {}
    if not isinstance(agents_in, dict):
        errors["agents"] = "Give agents as an object: agent key -> {provider, model}."
    else:
        unknown = sorted(set(agents_in) - set(AGENT_KEYS))
        if unknown:
            errors["agents"] = (
                f"Unknown agent {', '.join(unknown)}; the agents are {', '.join(AGENT_KEYS)}."
            )
        for key, value in agents_in.items():
            if key in AGENT_KEYS and isinstance(value, dict):
                chosen = str(value.get("provider") or provider)
                agents[key] = {"provider": chosen, "model": str(value.get("model") or "")}
    debate = str(data.get("debate") or DebateMode.AUTO)
    if debate not in DebateMode.values:
        errors["debate"] = "Debate is auto, always or never."
    if errors:
        raise ValidationError(errors)
    return {
        "brief": brief,
        "platform": platform,
        "duration_seconds": duration,
        "series": series,
        "characters": characters,
        "locations": locations,
        "provider": provider,
        "model": str(data.get("model") or ""),
        "agents": agents,
        "debate": debate,
    }


def _world(cleaned: dict[str, Any]) -> dict[str, Any]:
    series: Series | None = cleaned["series"]
    return {
        "series": {"name": series.name, "description": series.description} if series else None,
        "characters": [
            {"name": c.name, "description": c.description, "look": c.look, "voice": c.voice}
            for c in cleaned["characters"]
        ],
        "locations": [
            {"name": loc.name, "description": loc.description, "mood": loc.mood}
            for loc in cleaned["locations"]
        ],
    }


def _choose(provider: str, model: str) -> ProviderChoice:
    """A provider chosen by name must be set up: a session never quietly runs an agent on
    another provider than the one the person picked (Auto is the way to ask for any)."""
    try:
        return provider_choose(provider or "auto", model or None, require_configured=True)
    except NoProviderAvailable as exc:
        raise ValidationError({"provider": str(exc)}) from None


def _choice_input(choice: ProviderChoice, model: str) -> dict[str, str]:
    return {
        "requested": choice.requested,
        "provider": choice.provider,
        "model": model,
        "model_shown": choice.model,
    }


def session_quote(brief: dict[str, Any], choices: dict[str, ProviderChoice], debate: str) -> Quote:
    """The session's expected cost: five analyses, the judge and the debate (unless debate is
    ``never``), the synthesis and the shot list, at each part's provider's prices."""
    expected = low = high = ceiling = Decimal("0")
    prompt_tokens = estimate_tokens(
        "\n".join(
            [analysis_request(brief, "director").system]
            + [m.content for m in analysis_request(brief, "director").messages]
        )
    )
    calls: list[tuple[str, int, int]] = [
        (key, prompt_tokens, ANALYSIS_TOKENS) for key in AGENT_KEYS
    ]
    for part, (extra_in, out) in LATER_PARTS.items():
        if part in ("judge", "debate") and debate == DebateMode.NEVER:
            continue
        calls.append((part, prompt_tokens + extra_in, out))
    for part, tokens_in, tokens_out in calls:
        choice = choices.get(part) or choices["default"]
        costs = [
            cost_from_quote(
                price_for(alias, choice.model if alias == choice.provider else ""),
                tokens_in,
                tokens_out,
            )
            for alias in choice.chain
        ]
        expected += costs[0]
        low += min(costs)
        high += max(costs)
        most = MAX_OUTPUT.get(part, ANALYSIS_MAX_TOKENS)
        ceiling += chain_ceiling(list(choice.chain), choice.model, tokens_in, most)
    return Quote(expected, low, high, max(ceiling, high))


@dataclass(frozen=True, slots=True)
class SessionDraft:
    draft: RunDraft
    cleaned: dict[str, Any]
    quote: Quote


def session_prepare(
    user: Any, project: Project, data: dict[str, Any], *, correlation_id: str = ""
) -> SessionDraft:
    """Check a session request for an editor of ``project`` and price it."""
    cleaned = session_input_clean(project, data)
    world = _world(cleaned)
    brief = brief_build(
        brief=cleaned["brief"],
        platform=cleaned["platform"],
        duration_seconds=cleaned["duration_seconds"],
        series=world["series"],
        characters=world["characters"],
        locations=world["locations"],
    )
    default = _choose(cleaned["provider"], cleaned["model"])
    choices: dict[str, ProviderChoice] = {"default": default}
    models = {"default": cleaned["model"]}
    for key, chosen in cleaned["agents"].items():
        choices[key] = _choose(chosen["provider"], chosen["model"])
        models[key] = chosen["model"]
    quote = session_quote(brief, choices, cleaned["debate"])
    draft = run_prepare(
        user=user,
        project=project,
        kind=KIND,
        input={
            "brief": brief,
            "choices": {key: _choice_input(choice, models[key]) for key, choice in choices.items()},
            "debate": cleaned["debate"],
            "notes": [],
        },
        provider_requested=default.requested,
        provider=default.provider,
        model=default.model,
        expected_tokens=5 * ANALYSIS_TOKENS + sum(out for _, out in LATER_PARTS.values()),
        expected_cost=quote.expected,
        cost_ceiling=quote.ceiling,
        correlation_id=correlation_id,
    )
    return SessionDraft(draft, {**cleaned, "world": world}, quote)


def session_create_for(prepared: SessionDraft) -> Any:
    """``with_run`` of ``run_create``: the session, in the run's transaction, its id in the
    run's input (the ``run`` event names it)."""
    cleaned = prepared.cleaned

    def create(run: Run) -> None:
        session = Session.objects.create(
            project=run.project,
            run=run,
            created_by=run.created_by,
            brief=cleaned["brief"],
            platform=cleaned["platform"],
            duration_seconds=cleaned["duration_seconds"],
            series=cleaned["series"],
            world=cleaned["world"],
            provider=cleaned["provider"],
            agent_providers=cleaned["agents"],
            debate_mode=cleaned["debate"],
            expected_cost=prepared.quote.expected,
            expected_cost_high=prepared.quote.high,
        )
        session.characters.set(cleaned["characters"])
        session.locations.set(cleaned["locations"])
        run.input = {**run.input, "session_id": session.pk}
        Run.objects.filter(pk=run.pk).update(input=run.input)
        _activity(session, run.created_by, f"started the roundtable “{session.title}”")

    return create


def session_start(prepared: SessionDraft) -> Run:
    """Create the run and its session (sync; the caller has checked the role)."""
    return run_create(prepared.draft, with_run=session_create_for(prepared))


def _activity(session: Session, actor: Any, verb: str) -> None:
    Activity.objects.create(project_id=session.project_id, actor=actor, verb=verb[:200])
    live.project_changed(session.project_id, ["roundtables"])


def session_results_save(
    session_id: int,
    *,
    judgement: dict[str, Any],
    debate: list[dict[str, str]],
    synthesis: str,
    shots_raw: str,
    shots: list[dict[str, Any]],
    parsed: bool,
    note: str,
) -> None:
    Session.objects.filter(pk=session_id).update(
        judgement=judgement,
        debate=debate,
        synthesis=synthesis,
        shots_raw=shots_raw,
        shots=shots,
        shots_parsed=parsed,
        shots_note=note[:300],
    )


_ENDING = {
    "succeeded": (SessionStatus.SUCCEEDED, "finished"),
    "failed": (SessionStatus.FAILED, "ended with an error"),
    "cancelled": (SessionStatus.CANCELLED, "was cancelled"),
    "interrupted": (SessionStatus.INTERRUPTED, "was interrupted"),
}


def session_run_ended(run: Run, status: str) -> None:
    """The roundtable kind's ``on_end``: the session takes the run's ending, cost and parts'
    results at once (in the transaction that ends the run)."""
    session = Session.objects.filter(run=run).first()
    if session is None:
        return
    state, words = _ENDING.get(str(status), (SessionStatus.FAILED, "ended"))
    fields: dict[str, Any] = {
        "status": state,
        "cost": run.cost,
        "finished_at": run.finished_at or timezone.now(),
        "error_message": run.error_message if state != SessionStatus.SUCCEEDED else "",
    }
    parts = {part.key: part for part in run.parts.all()}
    synthesis = parts.get("synthesis")
    if synthesis is not None and synthesis.text and not session.synthesis:
        fields["synthesis"] = synthesis.text
    shots = parts.get("shots")
    if shots is not None and shots.text and not session.shots_raw:
        fields["shots_raw"] = shots.text
    debate = parts.get("debate")
    if debate is not None and not session.debate and debate.result.get("messages"):
        fields["debate"] = debate.result["messages"]
    judge = parts.get("judge")
    if judge is not None and not session.judgement and judge.result:
        fields["judgement"] = judge.result
    Session.objects.filter(pk=session.pk).update(**fields)
    if state == SessionStatus.SUCCEEDED:
        versions_seed(session, run)
    actor: Any
    if state == SessionStatus.CANCELLED and run.cancelled_by is not None:
        actor, verb = run.cancelled_by, f"cancelled the roundtable “{session.title}”"
    elif state == SessionStatus.SUCCEEDED:
        actor, verb = run.created_by, f"finished the roundtable “{session.title}”"
    else:
        actor, verb = run.created_by, f"ran the roundtable “{session.title}”, which {words}"
    Activity.objects.create(project_id=session.project_id, actor=actor, verb=verb[:200])
    live.project_changed(session.project_id, ["roundtables"])
