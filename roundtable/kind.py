"""The ``roundtable`` run kind: a part per agent, then the judge, the debate, the synthesis and the
shot list, each with its own chunk event (../shared/API.md §3 "Roundtables")."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from aura_site.money import format_usd, plain
from generation.chain.policy import providers_known
from generation.runs.kinds import DoneInfo, KindSpec, PartEvents, PartSpec, register
from generation.runs.models import Run, RunPart
from roundtable.agents import AGENT_BY_KEY, AGENTS
from roundtable.chair import chair_view, log_item, points_of, session_paused
from roundtable.models import VersionStatus
from roundtable.pipeline import roundtable_handler
from roundtable.services import KIND, session_run_ended
from roundtable.versions import versions_of

PANEL = "roundtable/panel.html"

STAGE_LABELS = {
    "analysing": "The agents are analysing the brief",
    "judging": "Looking for the strongest disagreement",
    "debating": "Debating",
    "synthesising": "Writing the final prompt",
    "shot_listing": "Listing the shots",
    "saving": "Saving",
    "waiting": "Waiting for the chair",
}

CHAIR_EVENTS = frozenset(
    {"chair_note", "chair_pin", "chair_veto", "user_input_request", "user_input_response"}
)


def _agent_chunk(part: Any, content: str) -> dict[str, Any]:
    return {
        "agent": part.key,
        "content": content,
        "tokens": part.output_tokens,
        "cost": plain(part.cost),
    }


def _debate_chunk(part: Any, content: str) -> dict[str, Any]:
    return {"from": part.extra.get("speaker", ""), "content": content}


def _content_only(part: Any, content: str) -> dict[str, Any]:
    return {"content": content}


PART_EVENTS = {
    **{agent.key: PartEvents("agent_chunk", _agent_chunk) for agent in AGENTS},
    "judge": PartEvents(""),
    "debate": PartEvents("debate_chunk", _debate_chunk),
    "synthesis": PartEvents("synthesis_chunk", _content_only),
    "shots": PartEvents("shots_chunk", _content_only),
}


def run_event_fields(run: Run) -> dict[str, Any]:
    return {
        "run_id": str(run.pk),
        "kind": KIND,
        "session_id": run.input.get("session_id"),
        "agents": [agent.key for agent in AGENTS],
        "expected_cost": plain(run.expected_cost),
        "cost_ceiling": plain(run.cost_ceiling),
    }


def done_fields(info: DoneInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "session_id": info.extra.get("session_id"),
        "usage": info.usage,
        "cost": info.cost,
        "costs": info.part_costs,
        "duration_ms": info.duration_ms,
    }


def session_seconds() -> float:
    return float(settings.AURA_ROUNDTABLE_SESSION_SECONDS)


# ---- live fragments ------------------------------------------------------------------------


SCRIPT_PLATFORMS = {"instagram_reels": "instagram"}
"""The script generator's name for a platform, where it differs."""


def script_url(run: Run, key_point: str = "", topic: str = "") -> str:
    """The script generator, filled in from the session: its brief (or ``topic``: the final
    prompt) as the topic, its platform and length, and ``key_point`` (a shot's description) as
    a must key point."""
    brief = run.input.get("brief") or {}
    topic = " ".join((topic or str(brief.get("brief") or "")).split())
    if len(topic) > 500:
        topic = topic[:499].rsplit(" ", 1)[0] + "…"
    platform = str(brief.get("platform") or "")
    query: list[tuple[str, str]] = [
        ("topic", topic),
        ("platform", SCRIPT_PLATFORMS.get(platform, platform)),
        ("duration_seconds", str(max(10, int(brief.get("duration_seconds") or 60)))),
    ]
    if key_point:
        query.append(("kp", key_point[:300]))
    return f"{reverse('scripts:new', args=[run.project_id])}?{urlencode(query)}"


CLIP_PROMPT_LIMIT = 2000


def shot_prompt(shot: dict[str, Any]) -> str:
    """A video prompt from a shot: what it shows, then how it is shot and lit."""
    what = str(shot.get("description") or "").strip().rstrip(".")
    how = [
        str(shot.get(key) or "").strip()
        for key in ("shot_type", "camera", "lens", "lighting", "color")
    ]
    prompt = ". ".join(part for part in [what, ", ".join(h for h in how if h)] if part)
    return prompt[:CLIP_PROMPT_LIMIT]


def clip_url(run: Run, shot: dict[str, Any]) -> str:
    """The videos page with a clip of ``shot`` filled in: its prompt, its length and which
    shot of which session it is."""
    query: list[tuple[str, str]] = [("prompt", shot_prompt(shot))]
    seconds = shot.get("duration_seconds")
    if seconds:
        query.append(("duration_seconds", f"{max(1.0, float(seconds)):g}"))
    session_id = run.input.get("session_id")
    if session_id and shot.get("number"):
        query += [("shot_roundtable", str(session_id)), ("shot_number", str(shot["number"]))]
    return f"{reverse('videos:list', args=[run.project_id])}?{urlencode(query)}"


def shot_rows(run: Run, shots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **shot,
            "script_url": script_url(run, str(shot.get("description") or "")),
            "clip_url": clip_url(run, shot),
        }
        for shot in shots
    ]


def card_state(view: Any, key: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
    """A card's head as an event leaves it (from the event alone, so that a viewer rebuilding
    from stored events draws the same)."""
    agent = AGENT_BY_KEY[key]
    live_part = getattr(view, "parts", {}).get(key)
    usage = data.get("usage") or {}
    state: dict[str, Any] = {
        "key": key,
        "name": agent.name,
        "role": agent.role,
        "avatar": agent.avatar_svg,
        "provider": data.get("provider") or (live_part.provider if live_part else ""),
        "model": data.get("model") or (live_part.model if live_part else ""),
        "status": {"agent_start": "running", "agent_complete": "succeeded"}.get(event, "failed"),
        "tokens": usage.get("output_tokens", live_part.output_tokens if live_part else 0),
        "cost": data.get("cost") or (live_part.cost if live_part else 0),
        "error_code": data.get("code", ""),
        "error_message": data.get("message", ""),
    }
    if event == "agent_error" and data.get("code") == "timeout":
        state["status"] = "timed_out"
    return state


def live(view: Any, event: str, data: dict[str, Any], part: str) -> str | None:
    run: Run = view.run
    context = {"run": run, "oob": True}
    if event in ("agent_start", "agent_complete", "agent_error"):
        key = str(data.get("agent") or part)
        if key not in AGENT_BY_KEY:
            return ""
        card = card_state(view, key, event, data)
        html: str = render_to_string(f"{PANEL}#card_head", {**context, "card": card})
        session_id = run.input.get("session_id")
        if event == "agent_complete" and session_id and run.kind == KIND:
            html += _points_loader(run, int(session_id), key)
        return html
    if event in CHAIR_EVENTS or event == "chair_check":
        return _chair_live(run, event, data)
    if event == "debate_start":
        return render_to_string(
            f"{PANEL}#debate",
            {
                **context,
                "debate": debate_view(
                    str(data.get("challenger", "")),
                    str(data.get("responder", "")),
                    str(data.get("topic", "")),
                    [],
                    "",
                ),
            },
        )
    if event == "debate_chunk":
        speaker = str(data.get("from", ""))
        return (
            f'<div id="{run.dom_id}-debate-{escape(speaker)}-text" hx-swap-oob="beforeend">'
            f"{escape(str(data.get('content', '')))}</div>"
        )
    if event == "debate_message":
        return ""
    if event == "synthesis_complete":
        return render_to_string(f"{PANEL}#synthesis_head", {**context, "synthesis_done": True})
    if event == "shots_complete":
        return render_to_string(
            f"{PANEL}#shots",
            {
                **context,
                "shots": {
                    "raw": data.get("suggested_shots", ""),
                    "list": shot_rows(run, data.get("shots") or []),
                    "parsed": bool(data.get("parsed")),
                    "scaled": bool(data.get("scaled")),
                    "note": data.get("note", ""),
                    "done": True,
                },
            },
        )
    return None


def _chair_live(run: Run, event: str, data: dict[str, Any]) -> str:
    """A chair event as everyone sees it: a line of the chair's log; a question (whose answer
    buttons each page loads for its own viewer) or its answer."""
    session_id = run.input.get("session_id")
    context = {"run": run, "item": log_item({"event": event, **data}), "session_id": session_id}
    html: str = render_to_string(f"{PANEL}#chair_log_oob", context)
    if event == "user_input_request" and session_id:
        context["block_url"] = (
            reverse("roundtable:chair_question", args=[run.project_id, session_id])
            + "?"
            + urlencode({"request_id": str(data.get("request_id", ""))})
        )
        html += render_to_string(f"{PANEL}#question_loader", context)
    if event == "user_input_response":
        html += render_to_string(f"{PANEL}#question_answered", context)
    key = str(data.get("agent") or "")
    if event in ("chair_pin", "chair_veto") and session_id and key in AGENT_BY_KEY:
        html += _points_loader(run, int(session_id), key)
    return html


def _points_loader(run: Run, session_id: int, key: str) -> str:
    """An agent's points block, which each page loads again for its own viewer (pin and veto
    buttons for editors only)."""
    url = (
        reverse("roundtable:chair_points", args=[run.project_id, session_id])
        + "?"
        + urlencode({"agent": key})
    )
    return render_to_string(
        f"{PANEL}#points_loader", {"run": run, "card": {"key": key}, "block_url": url}
    )


def card_chair(run: Run, chair: dict[str, Any] | None, key: str, part: Any) -> dict[str, Any]:
    """What an agent's card shows of the chair: its points (to pin or veto while the session
    runs and its analysis is done) and those pinned or vetoed."""
    done = part is not None and part.status == "succeeded"
    return {
        "session_id": chair["session_id"] if chair else None,
        "marks": (chair or {}).get("marks", {}).get(key, {}),
        "points": points_of(part.text) if done else [],
        "can_mark": bool(chair) and run.is_active and done,
    }


def live_metrics(view: Any, part: str) -> str:
    """The part's tokens and cost, and the session's total, a few times a second."""
    run: Run = view.run
    live_part = view.parts.get(part) if part in AGENT_BY_KEY else None
    html = ""
    if live_part is not None:
        html += (
            f'<span id="{run.dom_id}-{part}-metrics" class="card-metrics" hx-swap-oob="true">'
            f"{live_part.output_tokens} tokens · {format_usd(live_part.cost)}</span>"
        )
    html += (
        f'<b id="{run.dom_id}-total-cost" data-metric="cost" hx-swap-oob="true">'
        f"{format_usd(view.cost_total())}</b>"
    )
    return html


def debate_view(
    challenger: str, responder: str, topic: str, messages: list[dict[str, str]], text: str
) -> dict[str, Any]:
    """The debate as a panel shows it: who challenges whom about what, and each speaker's text
    (the finished messages, and what the current speaker has said so far)."""
    said = {message["from"]: message["message"] for message in messages}
    done = sum(len(message["message"]) for message in messages)
    current = responder if challenger in said else challenger
    if current not in said and text[done:]:
        said[current] = text[done:]
    return {
        "challenger": challenger,
        "responder": responder,
        "topic": topic,
        "speakers": [
            {
                "key": key,
                "name": AGENT_BY_KEY[key].name if key in AGENT_BY_KEY else key,
                "text": said.get(key, ""),
                "role": "asks" if key == challenger else "answers",
            }
            for key in (challenger, responder)
            if key
        ],
    }


def panel_context(snapshot: Any) -> dict[str, Any]:
    parts = snapshot.part
    session_id = snapshot.run.input.get("session_id")
    chair = chair_view(snapshot.run, int(session_id)) if session_id else None
    cards = []
    for agent in AGENTS:
        part = parts.get(agent.key)
        cards.append(
            {
                "key": agent.key,
                "name": agent.name,
                "role": agent.role,
                "avatar": agent.avatar_svg,
                "status": part.status if part else "waiting",
                "provider": part.provider if part else "",
                "model": part.model if part else "",
                "tokens": part.output_tokens if part else 0,
                "cost": part.cost if part else 0,
                "error_message": part.error_message if part else "",
                "text": part.text if part else "",
                **card_chair(snapshot.run, chair, agent.key, part),
            }
        )
    judge = parts.get("judge")
    judged = judge.result if judge is not None else {}
    debate_part = parts.get("debate")
    debate = None
    if debate_part is not None and judged.get("debated"):
        debate = debate_view(
            str(judged.get("challenger", "")),
            str(judged.get("responder", "")),
            str(judged.get("topic", "")),
            list(debate_part.result.get("messages") or []),
            debate_part.text,
        )
    shots_part = parts.get("shots")
    result = shots_part.result if shots_part is not None else {}
    shots = {
        "raw": shots_part.text if shots_part is not None else "",
        "list": shot_rows(snapshot.run, result.get("shots") or []),
        "parsed": bool(result.get("parsed")),
        "scaled": bool(result.get("scaled")),
        "note": result.get("note", ""),
        "done": bool(result),
    }
    synthesis = parts.get("synthesis")
    context = {
        "chair": chair,
        "cards": cards,
        "judged": judged,
        "debate": debate,
        "synthesis": synthesis,
        "synthesis_done": synthesis is not None and synthesis.status == "succeeded",
        "shots": shots,
        "replay_url": (
            reverse("roundtable:events", args=[snapshot.run.project_id, session_id])
            if (session_id := snapshot.run.input.get("session_id"))
            else ""
        ),
        "synthesis_script_url": script_url(
            snapshot.run, topic=synthesis.text if synthesis is not None else ""
        ),
        "synthesis_clip_url": (
            f"{reverse('videos:list', args=[snapshot.run.project_id])}?"
            + urlencode({"prompt": synthesis.text[:CLIP_PROMPT_LIMIT]})
            if synthesis is not None and synthesis.text
            else ""
        ),
    }
    if session_id and snapshot.run.kind == KIND and not snapshot.run.is_active:
        _versions_overlay(snapshot.run, int(session_id), context)
    return context


def _version_line(run: Run, rows: list[Any]) -> dict[str, Any]:
    """What a part's block says of its versions: the one shown, how many there are, who asked
    for it, its provider and cost, and the others (newest first)."""
    current = next((row for row in rows if getattr(row, "is_current", False)), None)
    return {
        "current": current,
        "count": len(rows),
        "rerun": current is not None and current.run_id != run.pk,
        "running": any(row.status == VersionStatus.RUNNING for row in rows),
        "others": sorted(
            (row for row in rows if row is not current), key=lambda row: -int(row.number)
        ),
    }


def provider_choices() -> list[tuple[str, str]]:
    """The providers a session or one of its parts can be run on, for a picker."""
    choices = [("auto", "Auto (best available)")]
    for info in providers_known():
        label = info.label if info.configured else f"{info.label} (not set up)"
        choices.append((info.name, label))
    return choices


def rerun_providers() -> list[tuple[str, str]]:
    return [("", "Same as before"), *provider_choices()]


def _versions_overlay(run: Run, session_id: int, context: dict[str, Any]) -> None:
    """A finished session's panel shows the current version of each part (the newest that
    succeeded, a re-run's or the session's own) with its version line, and whether its parts
    can be re-run now."""
    groups = versions_of(session_id)
    busy = any(row.status == VersionStatus.RUNNING for rows in groups.values() for row in rows)
    context["part_versions"] = {key: _version_line(run, rows) for key, rows in groups.items()}
    context["rerun_open"] = (
        run.status == "succeeded"
        and not busy
        and any(getattr(row, "is_current", False) for row in groups.get("synthesis", []))
    )
    context["rerun_url"] = reverse("roundtable:rerun", args=[run.project_id, session_id])
    context["rerun_providers"] = rerun_providers()
    context["session_id"] = session_id
    shown = {
        key: line["current"]
        for key, line in context["part_versions"].items()
        if line["current"] is not None and line["rerun"]
    }
    tokens = dict(
        (((run_id, key), count))
        for run_id, key, count in RunPart.objects.filter(
            run_id__in={version.run_id for version in shown.values()},
            key__in=list(shown),
        ).values_list("run_id", "key", "output_tokens")
    )
    for card in context["cards"]:
        card["versions"] = context["part_versions"].get(card["key"])
        version = shown.get(card["key"])
        if version is not None:
            card.update(
                status="succeeded",
                text=version.text,
                provider=version.provider,
                model=version.model,
                cost=version.cost,
                tokens=tokens.get((version.run_id, card["key"]), 0),
                error_message="",
                points=[],
            )
    debate = shown.get("debate")
    if debate is not None:
        result = debate.result or {}
        context["judged"] = result
        context["debate"] = debate_view(
            str(result.get("challenger", "")),
            str(result.get("responder", "")),
            str(result.get("topic", "")),
            list(result.get("messages") or []),
            debate.text,
        )
    synthesis = shown.get("synthesis")
    if synthesis is not None:
        context["synthesis"] = {"text": synthesis.text}
        context["synthesis_done"] = True
        context["synthesis_script_url"] = script_url(run, topic=synthesis.text)
        context["synthesis_clip_url"] = (
            f"{reverse('videos:list', args=[run.project_id])}?"
            + urlencode({"prompt": synthesis.text[:CLIP_PROMPT_LIMIT]})
        )
    shots = shown.get("shots")
    if shots is not None:
        result = shots.result or {}
        context["shots"] = {
            "raw": shots.text,
            "list": shot_rows(run, result.get("shots") or []),
            "parsed": bool(result.get("parsed")),
            "scaled": bool(result.get("scaled")),
            "note": result.get("note", ""),
            "done": True,
        }


def _dom_id(run_dom_id: str, part: str) -> str:
    return f"{run_dom_id}-{part}"


ROUNDTABLE = KindSpec(
    name=KIND,
    label="Roundtable",
    panel=PANEL,
    handler=roundtable_handler,
    parts=(
        *(PartSpec(agent.key, agent.name) for agent in AGENTS),
        PartSpec("judge", "Judge"),
        PartSpec("debate", "Debate"),
        PartSpec("synthesis", "Synthesis"),
        PartSpec("shots", "Shot list"),
    ),
    text_part=None,
    part_events=PART_EVENTS,
    stage_event="status",
    stage_labels=STAGE_LABELS,
    timeout_seconds=session_seconds,
    done_fields=done_fields,
    run_event_fields=run_event_fields,
    on_end=session_run_ended,
    on_pause=session_paused,
    live=live,
    live_metrics=live_metrics,
    panel_context=panel_context,
    part_dom_id=_dom_id,
)


def register_roundtable_kind() -> None:
    register(ROUNDTABLE)
