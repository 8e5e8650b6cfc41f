"""The offline writers: deterministic, each on its own side, about this brief and its world,
never a script; and through RuleBased, each purpose streams its writer's text."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from generation.providers import rulebased
from generation.providers.base import CompletionRequest, Finish, TextDelta
from generation.providers.rulebased import RuleBasedProvider
from roundtable.agents import AGENT_BY_KEY, AGENT_KEYS
from roundtable.norms import NORMS
from roundtable.offline import (
    WRITERS,
    analysis_writer,
    debate_writer,
    judge_writer,
    register_offline_writers,
    shots_writer,
    synthesis_writer,
    times_left_open,
)
from roundtable.prompts import (
    PURPOSES,
    analysis_request,
    debate_answer_request,
    debate_question_request,
    judge_fallback,
    judge_parse,
    judge_request,
    shots_request,
    synthesis_request,
)
from roundtable.shots import SHOT_COLUMNS, parse_shots, suggested_shot_count
from tests.roundtable.briefs import WORLD_NAMES, bare_brief, world_brief

FOCUS_TERMS = {
    "director": ("story", "hook", "setup", "payoff", "beat"),
    "cinematographer": ("framing", "lens", "mm", "camera", "push-in", "coverage"),
    "editor": ("pacing", "cuts a minute", "transitions", "j-cuts", "rhythm"),
    "colorist": ("palette", "grade", "skin tones", "contrast", "lut"),
    "platform_expert": ("hook window", "captions", "safe zones", "9:16"),
}
NOTE = "Keep the helmet yellow in every shot"


def analyses_of(brief: dict[str, Any], notes: tuple[str, ...] = ()) -> dict[str, str]:
    return {key: analysis_writer(analysis_request(brief, key, notes)) for key in AGENT_KEYS}


def assert_not_a_script(text: str) -> None:
    assert not re.search(r"^\s*#", text, re.MULTILINE), "no Markdown headings"
    assert "call to action" not in text.lower()
    assert not re.search(r"^\s*\**\s*(hook|body|intro|outro|cta)\s*\**\s*:?\s*$", text, re.I | re.M)
    assert not re.search(r"^\s*(INT|EXT)\.", text, re.MULTILINE)
    assert not re.search(r"\b(VO|V\.O\.|NARRATOR)\s*:", text)


def assert_no_placeholders(text: str) -> None:
    assert "None" not in text
    assert "{" not in text and "}" not in text
    assert not any("  " in line.strip() for line in text.splitlines())
    assert "lorem" not in text.lower()


# -- the analyses


@pytest.mark.parametrize("platform", list(NORMS))
def test_the_five_analyses_differ_and_stay_on_their_side(platform: str) -> None:
    brief = world_brief(platform, NORMS[platform].default_seconds)
    analyses = analyses_of(brief)
    assert len(set(analyses.values())) == 5
    for key, text in analyses.items():
        lowered = text.lower()
        hits = [term for term in FOCUS_TERMS[key] if term in lowered]
        assert len(hits) >= 3, (key, hits)
        assert 120 <= len(text.split()) <= 300, (key, len(text.split()))
        assert_not_a_script(text)
        assert_no_placeholders(text)


@pytest.mark.parametrize("platform", list(NORMS))
def test_each_analysis_is_about_this_brief_and_its_world(platform: str) -> None:
    seconds = 45 if platform != "youtube" else 240
    brief = world_brief(platform, seconds)
    label = NORMS[platform].label
    for key, text in analyses_of(brief).items():
        assert "Volta" in text, key
        assert label in text, key
        assert f"{seconds} second" in text, key
        for name in WORLD_NAMES:
            assert name in text, (key, name)


def test_the_analyses_name_the_platforms_specifics() -> None:
    analyses = analyses_of(world_brief("instagram_reels", 30))
    assert "9:16" in analyses["cinematographer"]
    assert "calm, misty" in analyses["colorist"] and "tense" in analyses["colorist"]
    assert "yellow helmet" in analyses["colorist"]
    expert = analyses["platform_expert"]
    assert "Hook window: 3 seconds" in expert
    assert NORMS["instagram_reels"].captions in expert
    assert "3:4" in expert
    assert "8 shots" in analyses["editor"]
    youtube = analyses_of(bare_brief("youtube", 300))
    assert "16:9" in youtube["cinematographer"] and "16:9" in youtube["platform_expert"]
    assert "chapters" in youtube["editor"]


@pytest.mark.parametrize(
    ("platform", "seconds", "phrase"),
    [
        ("tiktok", 30, "sits inside"),
        ("tiktok", 200, "longer than what usually completes"),
        ("youtube_shorts", 8, "short for YouTube Shorts"),
        ("instagram_reels", 300, "over Instagram Reels' limit of 3 minutes"),
    ],
)
def test_the_platform_expert_weighs_the_length(platform: str, seconds: int, phrase: str) -> None:
    text = analysis_writer(analysis_request(world_brief(platform, seconds), "platform_expert"))
    assert phrase in text


def test_an_analysis_is_deterministic_and_takes_the_notes(brief: dict[str, Any]) -> None:
    for key in AGENT_KEYS:
        request = analysis_request(brief, key, [NOTE])
        first = analysis_writer(request)
        assert analysis_writer(analysis_request(brief, key, [NOTE])) == first
        assert NOTE in first
        assert analysis_writer(analysis_request(brief, key)) != first


def test_the_analyses_without_a_world_read_whole() -> None:
    for brief in (bare_brief(), bare_brief("tiktok", 20)):
        for key, text in analyses_of(brief).items():
            assert "pour-over" in text or "brew" in text, key
            assert_not_a_script(text)
            assert_no_placeholders(text)
            assert "Maya" not in text


# -- the judge and the debate


def test_the_judge_writes_the_fallback_judgement(brief: dict[str, Any]) -> None:
    analyses = analyses_of(brief)
    text = judge_writer(judge_request(brief, analyses))
    assert json.loads(text) == judge_fallback(analyses).as_dict()
    judgement = judge_parse(text, AGENT_KEYS)
    assert judgement == judge_fallback(analyses)
    assert judge_writer(judge_request(brief, analyses)) == text
    assert judge_writer(judge_request(brief, {"editor": "Only one analysis."})) == "{}"


def test_the_debate_is_a_pointed_question_and_a_reply(brief: dict[str, Any]) -> None:
    analyses = analyses_of(brief)
    judgement = judge_fallback(analyses)
    challenger = AGENT_BY_KEY[judgement.challenger].name
    responder = AGENT_BY_KEY[judgement.responder].name
    question = debate_writer(debate_question_request(brief, analyses, judgement))
    assert question.startswith(f"{responder}, you say “")
    assert question.rstrip().endswith("?")
    assert judgement.topic in question
    assert debate_writer(debate_question_request(brief, analyses, judgement)) == question
    answer = debate_writer(debate_answer_request(brief, analyses, judgement, question))
    assert challenger in answer.split(":")[0]
    assert "Decision:" in answer and "won't give up" in answer
    assert answer != question
    for text in (question, answer):
        assert_not_a_script(text)
        assert_no_placeholders(text)
        assert 25 <= len(text.split()) <= 120


@pytest.mark.parametrize("challenger", AGENT_KEYS)
def test_every_pair_can_debate(brief: dict[str, Any], challenger: str) -> None:
    from roundtable.prompts import Judgement

    analyses = analyses_of(brief)
    for responder in AGENT_KEYS:
        if responder == challenger:
            continue
        judgement = Judgement(challenger, responder, "how fast the opening cuts", 0.6)
        question = debate_writer(debate_question_request(brief, analyses, judgement))
        answer = debate_writer(debate_answer_request(brief, analyses, judgement, question))
        assert question.startswith(AGENT_BY_KEY[responder].name)
        assert answer.split(",")[0] in {"Fair question", "That's the right worry", "Fair"}
        assert AGENT_BY_KEY[challenger].name in answer


# -- the synthesis and the shot list


def test_the_synthesis_builds_on_every_analysis_and_the_debate(brief: dict[str, Any]) -> None:
    analyses = analyses_of(brief, (NOTE,))
    judgement = judge_fallback(analyses)
    question = debate_writer(debate_question_request(brief, analyses, judgement))
    answer = debate_writer(debate_answer_request(brief, analyses, judgement, question))
    debate = [
        {"from": judgement.challenger, "to": judgement.responder, "message": question},
        {"from": judgement.responder, "to": judgement.challenger, "message": answer},
    ]
    request = synthesis_request(brief, analyses, debate, notes=[NOTE])
    text = synthesis_writer(request)
    assert synthesis_writer(synthesis_request(brief, analyses, debate, notes=[NOTE])) == text
    paragraph, constraints, table = text.split("\n\n")
    assert paragraph.startswith("Vertical 9:16 video, 30 seconds, for TikTok:")
    assert "Volta" in paragraph
    for name in WORLD_NAMES[1:]:
        assert name in paragraph
    assert constraints.startswith("Style and constraints:\n- ")
    assert 4 <= constraints.count("\n- ") <= 12
    assert answer.split(". ")[-1].rstrip(".") in constraints
    assert f"Table note: {NOTE}" in constraints
    assert "Morning Riders" in constraints
    for key in AGENT_KEYS:
        assert f"From the {AGENT_BY_KEY[key].name}: " in table
    assert_not_a_script(text)
    assert_no_placeholders(text)


def test_the_synthesis_of_a_bare_brief_has_no_debate_or_notes() -> None:
    brief = bare_brief()
    text = synthesis_writer(synthesis_request(brief, analyses_of(brief)))
    assert text.startswith("Horizontal 16:9 video, 300 seconds, for YouTube:")
    assert "Settled in debate" not in text and "Table note" not in text
    assert_no_placeholders(text)


def test_the_synthesis_quotes_other_models_analyses(brief: dict[str, Any]) -> None:
    analyses = {
        "director": "Open on the dawn light. Maya wins the race at 18 seconds.",
        "colorist": "Cool greys for the traffic; warm gold for the bridge at 6:40 am.",
    }
    text = synthesis_writer(synthesis_request(brief, analyses))
    assert "From the Director: Maya wins the race at 18 seconds." in text
    assert "From the Colorist: " in text
    assert "From the Editor" not in text


@pytest.mark.parametrize("seconds", [5, 6, 8, 10, 12, 15, 22, 30, 37, 45, 60, 90, 180, 333, 600])
@pytest.mark.parametrize("platform", ["tiktok", "youtube"])
def test_the_shot_list_parses_whole_and_adds_up(platform: str, seconds: int) -> None:
    for brief in (world_brief(platform, seconds), bare_brief(platform, seconds)):
        text = shots_writer(shots_request(brief, "a final prompt"))
        assert text.splitlines()[0] == "| " + " | ".join(SHOT_COLUMNS) + " |"
        result = parse_shots(text, seconds)
        assert result.parsed and not result.scaled and result.note == ""
        count = suggested_shot_count(seconds)
        assert 3 <= len(result.shots) <= 12 and len(result.shots) == count
        assert [shot.number for shot in result.shots] == list(range(1, count + 1))
        assert round(sum(shot.duration_seconds or 0 for shot in result.shots), 6) == seconds
        for shot in result.shots:
            assert shot.shot_type and shot.description and shot.camera and shot.lens
            assert shot.lighting and shot.color
            assert (shot.duration_seconds or 0) > 0
        assert result.shots[0].on_screen_text
        assert (result.shots[0].duration_seconds or 0) <= NORMS[platform].hook_seconds
        assert_no_placeholders(text)


def test_the_shot_list_uses_the_world(brief: dict[str, Any]) -> None:
    text = shots_writer(shots_request(brief, ""))
    result = parse_shots(text, 30)
    descriptions = " ".join(shot.description or "" for shot in result.shots)
    for name in ("Maya", "Theo", "Harbour Bridge", "Market Street", "Volta"):
        assert name in descriptions
    assert result.shots[-1].on_screen_text == "Morning Riders"
    assert shots_writer(shots_request(brief, "")) == text


# -- through RuleBased


@pytest.fixture
def registered() -> Iterator[None]:
    before = set(rulebased.registered_purposes())
    register_offline_writers()
    yield
    for purpose in PURPOSES:
        if purpose not in before:
            rulebased.unregister_writer(purpose)


def stream(request: CompletionRequest) -> tuple[list[str], Finish]:
    provider = RuleBasedProvider("rulebased", {"pace_ms": 0})

    async def run() -> tuple[list[str], Finish]:
        deltas: list[str] = []
        finish: Finish | None = None
        async for event in provider.stream(request):
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            else:
                finish = event
        assert finish is not None
        return deltas, finish

    return asyncio.run(run())


def test_every_purpose_streams_its_writers_text(registered: None) -> None:
    assert set(PURPOSES) <= set(rulebased.registered_purposes())
    assert set(WRITERS) == set(PURPOSES)
    brief = world_brief()
    analyses = analyses_of(brief)
    judgement = judge_fallback(analyses)
    requests = [
        *(analysis_request(brief, key, [NOTE]) for key in AGENT_KEYS),
        judge_request(brief, analyses),
        debate_question_request(brief, analyses, judgement),
        debate_answer_request(brief, analyses, judgement, "Where does the time come from?"),
        synthesis_request(brief, analyses, notes=[NOTE]),
        shots_request(brief, "the final prompt"),
    ]
    for request in requests:
        deltas, finish = stream(request)
        expected = WRITERS[request.metadata["purpose"]](request)
        assert "".join(deltas) == expected
        assert len(deltas) > 1 or request.metadata["purpose"] == "roundtable.judge"
        assert finish.finish_reason == "stop"
        assert finish.usage.reported is False and finish.usage.output_tokens > 0


def test_the_writers_never_fail_on_thin_metadata() -> None:
    for purpose, writer in WRITERS.items():
        text = writer(CompletionRequest.from_prompt("x", metadata={"purpose": purpose}))
        assert text.strip(), purpose
    for seconds in (1, 2, 3, 4, 601, 1000):
        brief = bare_brief("tiktok", seconds)
        result = parse_shots(shots_writer(shots_request(brief, "")), seconds)
        assert result.parsed and not result.scaled
        assert round(sum(shot.duration_seconds or 0 for shot in result.shots), 6) == seconds


@pytest.mark.parametrize(
    ("text", "times"),
    [
        ("A keeper's last watch, at dawn or at night.", ["Dawn", "Night"]),
        ("Morning, noon or night in the harbour.", ["Morning", "Noon", "Night"]),
        ("In the morning or during the afternoon.", ["Morning", "Afternoon"]),
        ("A keeper's last watch at dusk.", []),
        ("With or without music, at dawn.", []),
        ("Dawn or dawn, the same light.", []),
        ("A keeper's last watch.", []),
    ],
)
def test_the_times_of_day_a_brief_leaves_open(text: str, times: list[str]) -> None:
    assert times_left_open(text) == times


def test_the_cinematographer_asks_only_when_the_time_of_day_is_left_open() -> None:
    from roundtable.chair import question_parse
    from roundtable.prompts import brief_build

    open_brief = brief_build(
        brief="A keeper's last watch, at dawn or at night.", platform="tiktok", duration_seconds=30
    )
    first, again = analyses_of(open_brief), analyses_of(open_brief)
    assert first == again
    asked = question_parse(first["cinematographer"])
    assert asked is not None and asked.options == ["Dawn", "Night"] and asked.default == "Dawn"
    assert all(question_parse(first[key]) is None for key in AGENT_KEYS if key != "cinematographer")
    settled = analyses_of(
        brief_build(brief="A keeper's last watch at dusk.", platform="tiktok", duration_seconds=30)
    )
    assert all(question_parse(text) is None for text in settled.values())
