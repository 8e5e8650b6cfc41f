"""The offline script writer, through RuleBased: deterministic, honours the brief, and passes
our own validation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from generation.providers import rulebased
from generation.providers.base import CompletionRequest, Finish, Message, TextDelta
from generation.providers.rulebased import RuleBasedProvider
from generation.scripts.models import ScriptTemplate
from generation.scripts.offline import ScriptBrief, script_writer, write_script
from generation.scripts.prompt import brief_build, request_build
from generation.scripts.textutils import count_words, split_sections
from generation.scripts.validation import validate_script

KEY_POINTS = [
    {"text": "Keep the camera at eye level", "priority": "nice"},
    {"text": "Record in a quiet room", "priority": "must"},
    {"text": "Light your face from the side", "priority": "should"},
    {"text": "Check the audio levels before every take", "priority": "must"},
]


def provider(pace_ms: int = 0) -> RuleBasedProvider:
    return RuleBasedProvider("rulebased", {"pace_ms": pace_ms})


def collect(p: RuleBasedProvider, request: CompletionRequest) -> tuple[str, Finish]:
    async def run() -> tuple[str, Finish]:
        parts: list[str] = []
        finish: Finish | None = None
        async for event in p.stream(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                finish = event
        assert finish is not None
        return "".join(parts), finish

    return asyncio.run(run())


@pytest.mark.django_db
@pytest.mark.parametrize("seconds", [30, 60, 600])
def test_every_template_passes_validation(seconds: int) -> None:
    templates = list(ScriptTemplate.objects.filter(built_in=True))
    assert len(templates) >= 6
    for template in templates:
        for delivery in ("calm", "fast"):
            brief = brief_build(
                topic="Recording clean voice-overs at home",
                audience="new YouTubers",
                tone="friendly",
                platform="youtube",
                duration_seconds=seconds,
                delivery=delivery,
                key_points=KEY_POINTS,
                template=template,
            )
            text, finish = collect(provider(), request_build(brief))
            report = validate_script(text, brief)
            assert report["passed"], (template.slug, seconds, delivery, report["problems"], text)
            assert finish.finish_reason == "stop"
            assert finish.usage.reported is False
            assert finish.usage.output_tokens == -(-len(text) // 4)
            assert finish.model == "template-v1"


def test_no_template_has_hook_body_and_call_to_action() -> None:
    brief = brief_build(topic="Why sleep matters", duration_seconds=45, key_points=KEY_POINTS[:2])
    text = provider().render(request_build(brief))
    assert [s.title for s in split_sections(text)] == ["Hook", "Body", "Call to action"]
    assert validate_script(text, brief)["passed"]


def test_same_input_same_output_and_different_input_different_output() -> None:
    brief = brief_build(topic="Pour-over coffee", duration_seconds=90, key_points=KEY_POINTS)
    first = provider().render(request_build(brief))
    second, _ = collect(provider(), request_build(brief))
    assert first == second
    other = brief_build(topic="Brewing espresso", duration_seconds=90, key_points=KEY_POINTS)
    assert provider().render(request_build(other)) != first


def test_key_points_appear_in_priority_order() -> None:
    brief = brief_build(topic="Home studio basics", duration_seconds=120, key_points=KEY_POINTS)
    text = provider().render(request_build(brief)).lower()
    positions = [
        text.index("record in a quiet room"),
        text.index("check the audio levels before every take"),
        text.index("light your face from the side"),
        text.index("keep the camera at eye level"),
    ]
    assert positions == sorted(positions)


def test_small_budget_drops_nice_points_first_never_a_must() -> None:
    points = [
        {"text": "Mention the spring sale ends on Friday", "priority": "must"},
        {"text": "Our shop ships to every country in Europe", "priority": "must"},
        {"text": "Gift wrapping is free for members", "priority": "should"},
        {"text": "We planted a tree for each order last year", "priority": "nice"},
        {"text": "The founders started in a garage in Leeds", "priority": "nice"},
    ]
    brief = brief_build(topic="Spring sale", duration_seconds=15, key_points=points)
    text = provider().render(request_build(brief)).lower()
    assert "spring sale ends on friday" in text
    assert "ships to every country in europe" in text
    assert "planted a tree" not in text
    assert "garage in leeds" not in text


def test_honours_audience_platform_and_persona() -> None:
    brief = {
        "topic": "Meal prep for the week",
        "audience": "busy parents",
        "platform": "tiktok",
        "duration_seconds": 60,
        "words_per_minute": 150,
        "persona": {"name": "Chef Ana", "voice": "warm", "dont": ["honestly"]},
    }
    request = CompletionRequest.from_prompt(
        "ignored", metadata={"purpose": "script", "brief": brief}
    )
    text = provider().render(request)
    assert "busy parents" in text
    assert "Chef Ana" in text
    assert "honestly" not in text.lower()
    cta = split_sections(text)[-1].body
    assert any(phrase in cta for phrase in ("Follow for part two", "Save this", "Duet this"))


def test_without_a_brief_the_user_message_is_the_topic() -> None:
    request = CompletionRequest.from_prompt(
        "Growing tomatoes on a balcony", metadata={"purpose": "script"}
    )
    text = provider().render(request)
    assert "growing tomatoes on a balcony" in text.lower()
    assert 130 <= count_words(text) <= 170


def test_continues_a_cut_off_script_with_the_missing_sections() -> None:
    brief = brief_build(topic="Home studio basics", duration_seconds=60, key_points=KEY_POINTS)
    full = provider().render(request_build(brief))
    cut = full[: full.index("## Call to action")]
    request = request_build(brief, mode="continue")
    request = CompletionRequest(
        messages=(*request.messages, Message("assistant", cut)),
        system=request.system,
        metadata=request.metadata,
    )
    rest = provider().render(request)
    assert rest.lstrip().startswith("## Call to action")
    assert "## Hook" not in rest


def test_streams_in_word_groups_that_join_to_the_text() -> None:
    request = request_build(brief_build(topic="Knife skills", duration_seconds=30))
    p = provider()
    text, _ = collect(p, request)
    assert text == p.render(request)

    async def chunks() -> list[Any]:
        return [event async for event in p.stream(request)]

    events = asyncio.run(chunks())
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 10
    assert all(1 <= len(d.split()) <= 5 for d in deltas)


@pytest.mark.parametrize("mode", ["draft", "revise", "continue"])
def test_every_script_request_says_its_purpose(mode: Any) -> None:
    brief = brief_build(topic="Knife skills", duration_seconds=30)
    request = request_build(brief, mode=mode, previous_text="## Hook\n\nHi.", problems=["short"])
    assert request.metadata["purpose"] == "script"
    assert request.metadata["brief"] == brief and request.metadata["mode"] == mode


def test_the_scripts_app_registers_the_script_writer() -> None:
    assert "script" in rulebased.registered_purposes()
    brief = brief_build(topic="Pour-over coffee", duration_seconds=60, key_points=KEY_POINTS)
    request = request_build(brief)
    text, finish = collect(provider(), request)
    assert text == script_writer(request)
    assert text == write_script(ScriptBrief.from_dict(brief))
    assert [s.title for s in split_sections(text)] == ["Hook", "Body", "Call to action"]
    assert finish.model == "template-v1"
