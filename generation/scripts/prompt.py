"""The brief of a script and the prompts built from it.

``brief_build`` assembles the brief dict (the contract ``generation.scripts.offline``
documents) from the form or API fields. ``request_build`` turns a brief into a
``CompletionRequest`` for a draft, a revision (with the problems of the previous draft) or a
continuation (the text so far is added by ``RunContext.stream_llm`` as the answer's beginning).
The brief travels in ``request.metadata["brief"]`` and ``metadata["purpose"]`` is ``"script"``,
so that RuleBased answers with its offline script writer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from generation.providers.base import CompletionRequest, Message
from generation.scripts.constants import (
    DEFAULT_DELIVERY,
    DEFAULT_PLATFORM,
    DELIVERY_BY_SLUG,
    PLATFORM_BY_SLUG,
    PRIORITIES,
    PRIORITY_RANK,
    REQUEST_PURPOSE,
    Priority,
)
from generation.scripts.textutils import word_budget

if TYPE_CHECKING:
    from generation.scripts.models import Persona, ScriptTemplate

Mode = Literal["draft", "revise", "continue"]

DEFAULT_SECTIONS: list[dict[str, Any]] = [
    {"key": "hook", "title": "Hook", "share": 0.15, "guidance": "Grab attention at once."},
    {"key": "body", "title": "Body", "share": 0.7, "guidance": "Deliver the key points."},
    {"key": "cta", "title": "Call to action", "share": 0.15, "guidance": "What to do next."},
]

_PLATFORM_NOTES = {
    "youtube": "Horizontal video; viewers decide in the first 15 seconds whether to stay.",
    "youtube_shorts": "Vertical, under a minute or so; hook in the first two seconds.",
    "tiktok": "Vertical and fast; hook in the first two seconds, plain spoken language.",
    "instagram": "Vertical Reel; visual, punchy lines, a save-worthy takeaway.",
    "linkedin": "Professional audience; credible, concrete, no hype.",
    "facebook": "Feed video often watched muted at first; front-load the point.",
    "x": "Short clip in a timeline; one idea, said fast.",
    "podcast": "Audio only; describe anything visual in words.",
}


def ordered_key_points(points: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Key points in priority order (must, should, nice), keeping the given order within each."""
    cleaned = [
        {"text": " ".join(str(p.get("text") or "").split()), "priority": str(p.get("priority"))}
        for p in points
    ]
    cleaned = [
        {"text": p["text"], "priority": p["priority"] if p["priority"] in PRIORITIES else "must"}
        for p in cleaned
        if p["text"]
    ]
    return sorted(cleaned, key=lambda p: PRIORITY_RANK[p["priority"]])


def brief_build(
    *,
    topic: str,
    audience: str = "",
    tone: str = "",
    platform: str = DEFAULT_PLATFORM,
    duration_seconds: int = 60,
    delivery: str = DEFAULT_DELIVERY,
    key_points: list[dict[str, Any]] | None = None,
    template: ScriptTemplate | None = None,
    persona: Persona | None = None,
) -> dict[str, Any]:
    style = DELIVERY_BY_SLUG.get(delivery) or DELIVERY_BY_SLUG[DEFAULT_DELIVERY]
    place = PLATFORM_BY_SLUG.get(platform)
    return {
        "topic": " ".join(topic.split()),
        "audience": audience.strip(),
        "tone": tone.strip(),
        "platform": platform,
        "platform_label": place.label if place else platform,
        "duration_seconds": int(duration_seconds),
        "delivery": style.slug,
        "words_per_minute": style.words_per_minute,
        "word_budget": word_budget(int(duration_seconds), style.words_per_minute),
        "key_points": ordered_key_points(key_points or []),
        "template": template.as_brief() if template is not None else None,
        "persona": persona.as_brief() if persona is not None else None,
    }


def brief_sections(brief: dict[str, Any]) -> list[dict[str, Any]]:
    template = brief.get("template") or {}
    return list(template.get("sections") or DEFAULT_SECTIONS)


def section_plan(brief: dict[str, Any]) -> list[dict[str, Any]]:
    """Each section with its share of the running time, its word count and its start."""
    budget = int(brief.get("word_budget") or 0)
    duration = int(brief.get("duration_seconds") or 0)
    plan: list[dict[str, Any]] = []
    start = 0.0
    for section in brief_sections(brief):
        share = float(section.get("share") or 0)
        seconds = duration * share
        plan.append(
            {
                "key": section.get("key", ""),
                "title": section.get("title", ""),
                "guidance": section.get("guidance", ""),
                "share": share,
                "percent": round(share * 100),
                "words": round(budget * share),
                "start_seconds": round(start),
                "seconds": round(seconds),
            }
        )
        start += seconds
    return plan


def max_tokens_for(brief: dict[str, Any]) -> int:
    budget = int(brief.get("word_budget") or 150)
    return min(16_000, math.ceil(budget * 1.4 * 1.3) + 256)


def system_prompt(brief: dict[str, Any]) -> str:
    lines = [
        "You are a professional video scriptwriter. You write scripts that are read aloud.",
        "Output only the script. Start each section with a heading line of the form "
        "'## Section title', using exactly the section titles you are given, in order. "
        "Under each heading write only the words to be spoken: no stage directions, no "
        "camera notes, no bullet lists, no other Markdown.",
        "Open with a hook and end with a call to action.",
    ]
    persona = brief.get("persona")
    if persona:
        lines.append(f"Write in the voice of the presenter {persona.get('name')}.")
        if persona.get("voice"):
            lines.append(f"Their voice: {persona['voice']}.")
        if persona.get("audience"):
            lines.append(f"They usually speak to: {persona['audience']}.")
        if persona.get("do"):
            lines.append("Always: " + "; ".join(persona["do"]) + ".")
        if persona.get("dont"):
            lines.append("Never: " + "; ".join(persona["dont"]) + ".")
    return "\n".join(lines)


def brief_prompt(brief: dict[str, Any]) -> str:
    budget = int(brief.get("word_budget") or 0)
    low, high = math.ceil(budget * 0.85), math.floor(budget * 1.15)
    platform = str(brief.get("platform") or "")
    lines = [f"Topic: {brief.get('topic')}"]
    if brief.get("audience"):
        lines.append(f"Audience: {brief['audience']}")
    if brief.get("tone"):
        lines.append(f"Tone: {brief['tone']}")
    lines.append(f"Platform: {brief.get('platform_label') or platform}")
    if platform in _PLATFORM_NOTES:
        lines.append(f"Platform notes: {_PLATFORM_NOTES[platform]}")
    lines.append(
        f"Target duration: {brief.get('duration_seconds')} seconds at "
        f"{brief.get('words_per_minute')} words per minute, so about {budget} spoken words "
        f"(stay between {low} and {high}; headings do not count)."
    )
    template = brief.get("template")
    lines.append("")
    lines.append(
        f"Structure ({template['name']}):"
        if template
        else "Structure (hook, body, call to action):"
    )
    for row in section_plan(brief):
        guidance = f" {row['guidance']}" if row["guidance"] else ""
        lines.append(
            f"## {row['title']} — {row['percent']}% of the time, about {row['words']} words, "
            f"from {row['start_seconds']}s for {row['seconds']}s.{guidance}"
        )
    points = brief.get("key_points") or []
    if points:
        lines.append("")
        lines.append("Key points, in priority order:")
        for index, point in enumerate(points, start=1):
            lines.append(f"{index}. [{str(point['priority']).upper()}] {point['text']}")
        lines.append(
            "Cover every MUST point explicitly, using its own key words. Cover SHOULD points "
            "when they fit the length. Cover NICE points only if room remains. Present them in "
            "this order."
        )
    return "\n".join(lines)


def request_build(
    brief: dict[str, Any],
    *,
    mode: Mode = "draft",
    previous_text: str = "",
    problems: list[str] | None = None,
) -> CompletionRequest:
    prompt = brief_prompt(brief)
    messages: list[Message]
    if mode == "revise":
        fixes = "\n".join(f"- {problem}" for problem in problems or [])
        messages = [
            Message("user", f"Write the script for this brief.\n\n{prompt}"),
            Message("assistant", previous_text),
            Message(
                "user",
                "That draft falls short of the brief:\n"
                f"{fixes}\n"
                "Rewrite the whole script so that it meets every requirement, keeping what "
                "already works. Output only the script.",
            ),
        ]
    elif mode == "continue":
        messages = [
            Message(
                "user",
                f"Write the script for this brief.\n\n{prompt}\n\n"
                "A previous attempt was cut off. Its text is the beginning of your answer: "
                "continue from exactly where it stops, without repeating any of it, and "
                "finish the remaining sections.",
            )
        ]
    else:
        messages = [Message("user", f"Write the script for this brief.\n\n{prompt}")]
    return CompletionRequest(
        messages=tuple(messages),
        system=system_prompt(brief),
        max_tokens=max_tokens_for(brief),
        temperature=0.7,
        metadata={"purpose": REQUEST_PURPOSE, "brief": brief, "mode": mode},
    )


def musts(brief: dict[str, Any]) -> list[str]:
    return [p["text"] for p in brief.get("key_points") or [] if p["priority"] == Priority.MUST]
