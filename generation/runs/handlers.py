"""The built-in handler of script runs: one prompt from the brief, streamed into the run.

It is registered as a default (see ``generation.runs.kinds``): the full script pipeline of
``generation.scripts`` replaces it when it registers the ``script`` kind.
"""

from __future__ import annotations

from typing import Any

from generation.providers.base import CompletionRequest
from generation.runs.context import RunContext

WORDS_PER_MINUTE = 150
TOKENS_PER_WORD = 4 / 3

SYSTEM_PROMPT = (
    "You write scripts for short videos. Write the words to be spoken, in sections, each with a "
    "'## ' heading line. No stage directions unless asked. Keep to the target length."
)


def expected_script_tokens(duration_seconds: int) -> int:
    """Tokens of a script that fills ``duration_seconds`` at a speaking pace."""
    return max(16, round(duration_seconds * WORDS_PER_MINUTE / 60 * TOKENS_PER_WORD))


def script_brief(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "topic": data.get("topic", ""),
        "audience": data.get("audience", ""),
        "tone": data.get("tone", ""),
        "platform": data.get("platform", ""),
        "duration_seconds": data.get("duration_seconds", 60),
        "key_points": list(data.get("key_points") or []),
    }


def script_prompt(data: dict[str, Any]) -> str:
    brief = script_brief(data)
    lines = [f"Write a video script about: {brief['topic']}"]
    if brief["audience"]:
        lines.append(f"Audience: {brief['audience']}")
    if brief["tone"]:
        lines.append(f"Tone: {brief['tone']}")
    if brief["platform"]:
        lines.append(f"Platform: {brief['platform']}")
    seconds = int(brief["duration_seconds"])
    words = round(seconds * WORDS_PER_MINUTE / 60)
    lines.append(f"Target length: {seconds} seconds spoken (about {words} words).")
    if brief["key_points"]:
        lines.append("Cover these key points:")
        lines.extend(
            f"- {point.get('text', '')} ({point.get('priority', 'should')})"
            for point in brief["key_points"]
        )
    return "\n".join(lines)


def script_request(data: dict[str, Any]) -> CompletionRequest:
    expected = expected_script_tokens(int(data.get("duration_seconds") or 60))
    return CompletionRequest.from_prompt(
        script_prompt(data),
        system=SYSTEM_PROMPT,
        model=str(data.get("model") or ""),
        max_tokens=min(8192, max(256, round(expected * 1.5))),
        metadata={"brief": script_brief(data)},
    )


async def script_handler(ctx: RunContext) -> dict[str, Any]:
    data = ctx.run.input
    await ctx.progress("generating", "Writing the script")
    await ctx.stream_llm(
        script_request(data),
        provider=str(data.get("provider") or "auto"),
        model=str(data.get("model") or "") or None,
    )
    return {"script_id": None, "validation": None}
