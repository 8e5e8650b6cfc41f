"""The brief dict and the request of each roundtable step."""

from __future__ import annotations

from typing import Any

import pytest

from generation.providers.base import CompletionRequest
from roundtable.agents import AGENT_KEYS
from roundtable.norms import NORMS
from roundtable.prompts import (
    ANALYSIS_PURPOSE,
    DEBATE_PURPOSE,
    JUDGE_PURPOSE,
    SHOTS_PURPOSE,
    SYNTHESIS_PURPOSE,
    Judgement,
    analysis_request,
    brief_build,
    brief_prompt,
    debate_answer_request,
    debate_question_request,
    judge_fallback,
    judge_parse,
    judge_request,
    shots_request,
    synthesis_request,
)
from roundtable.shots import SHOT_COLUMNS
from tests.roundtable.briefs import BRIEF_TEXT, WORLD_NAMES, bare_brief

ANALYSES = {
    "director": "The hook is a question; the payoff is Maya's smile at the bridge.",
    "cinematographer": "A 24mm wide of Harbour Bridge, a 50mm on Maya, and an 85mm insert.",
    "editor": "Eight shots, about four seconds each; the cut rhythm quickens into the turn.",
    "colorist": "Pale blue mist at Harbour Bridge, steel blue at Market Street.",
    "platform_expert": "Vertical 9:16, captions burned in, the hook inside two seconds.",
}
JUDGEMENT = Judgement("editor", "colorist", "pacing against the grade shift", 0.7)
NOTE = "Keep the helmet yellow in every shot"


def prompt_text(request: CompletionRequest) -> str:
    return request.system + "\n" + "\n".join(message.content for message in request.messages)


def assert_carries_the_brief(request: CompletionRequest, brief: dict[str, Any]) -> None:
    text = prompt_text(request)
    norms = NORMS[brief["platform"]]
    assert BRIEF_TEXT in text
    assert norms.label in text
    assert norms.aspect in text
    assert f"first {norms.hook_seconds} seconds" in text
    assert norms.captions in text
    assert f"Target duration: {brief['duration_seconds']} seconds" in text
    for name in WORLD_NAMES:
        assert name in text
    assert "teal scrubs, yellow helmet" in text
    assert "calm, misty" in text
    assert request.metadata["brief"] == brief


def test_the_brief_dict(brief: dict[str, Any]) -> None:
    assert brief["brief"] == BRIEF_TEXT
    assert brief["platform"] == "tiktok"
    assert brief["platform_label"] == "TikTok"
    assert brief["duration_seconds"] == 30
    assert brief["norms"] == NORMS["tiktok"].as_dict()
    assert brief["series"] == {
        "name": "Morning Riders",
        "description": "Short films about people who commute by bike.",
    }
    assert [c["name"] for c in brief["characters"]] == ["Maya", "Theo"]
    assert set(brief["characters"][0]) == {"name", "description", "look", "voice"}
    assert [place["name"] for place in brief["locations"]] == ["Harbour Bridge", "Market Street"]
    assert set(brief["locations"][0]) == {"name", "description", "mood"}


def test_the_brief_dict_is_cleaned() -> None:
    brief = brief_build(
        brief="  A teaser.  ",
        platform="youtube_shorts",
        duration_seconds=45,
        series={"name": " ", "description": "nothing"},
        characters=[{"name": "  Ana  ", "look": "red\n coat"}, {"name": ""}],
        locations=[{"name": "Pier", "mood": None}],
    )
    assert brief["brief"] == "A teaser."
    assert brief["series"] is None
    assert brief["characters"] == [
        {"name": "Ana", "description": "", "look": "red coat", "voice": ""}
    ]
    assert brief["locations"] == [{"name": "Pier", "description": "", "mood": ""}]
    with pytest.raises(ValueError, match="unknown platform"):
        brief_build(brief="x", platform="vine", duration_seconds=6)


def test_the_brief_prompt_without_a_world() -> None:
    text = brief_prompt(bare_brief())
    assert "Series" not in text and "Characters" not in text and "Locations" not in text
    assert "16:9" in text and "up to 12 hours" in text
    assert "Target duration: 300 seconds." in text


@pytest.mark.parametrize("agent", AGENT_KEYS)
def test_an_analysis_request(brief: dict[str, Any], agent: str) -> None:
    request = analysis_request(brief, agent, notes=[NOTE, "  "])
    assert request.metadata["purpose"] == ANALYSIS_PURPOSE
    assert request.metadata["agent"] == agent
    assert request.metadata["notes"] == [NOTE]
    assert_carries_the_brief(request, brief)
    text = prompt_text(request)
    assert NOTE in text
    assert "150 to 250 words" in request.system
    assert "call to action" in request.system  # what not to write
    assert 300 <= request.max_tokens <= 1000
    assert request.temperature is not None
    assert request.messages[-1].role == "user"


def test_each_agent_gets_its_own_focus(brief: dict[str, Any]) -> None:
    systems = {agent: analysis_request(brief, agent).system for agent in AGENT_KEYS}
    assert len(set(systems.values())) == 5
    assert "lenses" in systems["cinematographer"]
    assert "cut rhythm" in systems["editor"]
    assert "palette" in systems["colorist"]
    assert "hook window" in systems["platform_expert"]
    assert "beats" in systems["director"]
    with pytest.raises(ValueError, match="unknown agent"):
        analysis_request(brief, "producer")


def test_the_judge_request(brief: dict[str, Any]) -> None:
    request = judge_request(brief, ANALYSES)
    assert request.metadata["purpose"] == JUDGE_PURPOSE
    assert request.metadata["analyses"] == ANALYSES
    assert_carries_the_brief(request, brief)
    assert "ONE JSON object" in request.system
    assert '"challenger"' in request.system and '"strength"' in request.system
    for key, text in ANALYSES.items():
        assert key in request.system
        assert text in prompt_text(request)
    assert request.temperature is not None and request.temperature <= 0.3


def test_the_debate_requests(brief: dict[str, Any]) -> None:
    question = debate_question_request(brief, ANALYSES, JUDGEMENT)
    meta = question.metadata
    assert meta["purpose"] == DEBATE_PURPOSE
    assert (meta["role"], meta["speaker"], meta["to"]) == ("question", "editor", "colorist")
    assert meta["topic"] == "pacing against the grade shift"
    assert meta["analyses"] == ANALYSES
    assert_carries_the_brief(question, brief)
    assert ANALYSES["editor"] in prompt_text(question)
    assert ANALYSES["colorist"] in prompt_text(question)
    assert "pacing against the grade shift" in question.system

    asked = "Colorist, where does the time for the grade shift come from?"
    answer = debate_answer_request(brief, ANALYSES, JUDGEMENT, asked)
    meta = answer.metadata
    assert meta["purpose"] == DEBATE_PURPOSE
    assert (meta["role"], meta["speaker"], meta["to"]) == ("answer", "colorist", "editor")
    assert meta["question"] == asked
    assert asked in prompt_text(answer)
    assert_carries_the_brief(answer, brief)


def test_the_synthesis_request(brief: dict[str, Any]) -> None:
    debate = [
        {"from": "editor", "to": "colorist", "message": "Where does the time come from?"},
        {"from": "colorist", "to": "editor", "message": "From the setup. Decision: cut at 12 s."},
    ]
    request = synthesis_request(brief, ANALYSES, debate, notes=[NOTE])
    meta = request.metadata
    assert meta["purpose"] == SYNTHESIS_PURPOSE
    assert meta["analyses"] == ANALYSES
    assert meta["debate"] == debate
    assert meta["notes"] == [NOTE]
    assert_carries_the_brief(request, brief)
    text = prompt_text(request)
    for analysis in ANALYSES.values():
        assert analysis in text
    assert "Editor to the Colorist: Where does the time come from?" in text
    assert "Decision: cut at 12 s." in text
    assert NOTE in text
    assert "Style and constraints:" in request.system
    assert "9:16" in request.system and "30 seconds" in request.system


def test_the_synthesis_request_without_a_debate(brief: dict[str, Any]) -> None:
    request = synthesis_request(brief, ANALYSES)
    assert "The debate" not in prompt_text(request)
    assert request.metadata["debate"] == [] and request.metadata["notes"] == []


def test_the_shots_request(brief: dict[str, Any]) -> None:
    request = shots_request(brief, "Vertical 9:16 video of Maya crossing Harbour Bridge.")
    meta = request.metadata
    assert meta["purpose"] == SHOTS_PURPOSE
    assert meta["synthesis"].startswith("Vertical 9:16 video")
    assert meta["shot_count"] == 8
    assert_carries_the_brief(request, brief)
    assert "| " + " | ".join(SHOT_COLUMNS) + " |" in request.system
    assert "add up to exactly 30" in request.system
    assert "Vertical 9:16 video of Maya" in prompt_text(request)
    assert request.max_tokens >= 800


# -- reading the judge


@pytest.mark.parametrize(
    "text",
    [
        '{"challenger": "editor", "responder": "colorist", "topic": "the grade shift", '
        '"strength": 0.8}',
        '```json\n{"challenger": "editor", "responder": "colorist", "topic": "the grade shift", '
        '"strength": 0.8}\n```',
        'Here is my verdict:\n{"challenger": "Editor", "responder": "The Colourist", '
        '"topic": "the grade shift", "strength": "0.8"}\nThey clearly disagree.',
        'Looking at {these} analyses... {"challenger": "editor", "responder": "colorist", '
        '"topic": "  the grade   shift ", "strength": 0.8, "why": {"nested": true}}',
    ],
)
def test_judge_parse_reads_good_answers(text: str) -> None:
    assert judge_parse(text, AGENT_KEYS) == Judgement("editor", "colorist", "the grade shift", 0.8)


def test_judge_parse_accepts_names_and_clamps_the_strength() -> None:
    found = judge_parse(
        '{"challenger": "Platform Expert", "responder": "director", "topic": "length", '
        '"strength": 3}',
        AGENT_KEYS,
    )
    assert found == Judgement("platform_expert", "director", "length", 1.0)
    found = judge_parse(
        '{"challenger": "platform-expert", "responder": "director", "topic": "length"}',
        AGENT_KEYS,
    )
    assert found is not None and found.strength == 0.5
    found = judge_parse(
        '{"challenger": "editor", "responder": "director", "topic": "x", "strength": "high"}',
        AGENT_KEYS,
    )
    assert found is not None and found.strength == 0.5


def test_judge_parse_skips_to_the_first_usable_object() -> None:
    text = (
        '{"challenger": "producer", "responder": "editor", "topic": "budget"} or rather '
        '{"challenger": "director", "responder": "editor", "topic": "the cold open"}'
    )
    assert judge_parse(text, AGENT_KEYS) == Judgement("director", "editor", "the cold open", 0.5)


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "The editor and the colorist disagree about the grade.",
        '{"challenger": "editor", "responder": "colorist", "topic": "the grade"',
        '["editor", "colorist"]',
        '{"challenger": "producer", "responder": "editor", "topic": "budget"}',
        '{"challenger": "editor", "responder": "editor", "topic": "pacing"}',
        '{"challenger": "editor", "responder": "colorist", "topic": ""}',
        '{"challenger": 3, "responder": null, "topic": "pacing"}',
        '{"agent_a": "editor", "agent_b": "colorist", "topic": "pacing"}',
    ],
)
def test_judge_parse_refuses_unusable_answers(text: str | None) -> None:
    assert judge_parse(text, AGENT_KEYS) is None


def test_judge_parse_only_names_available_agents() -> None:
    text = '{"challenger": "editor", "responder": "colorist", "topic": "the grade"}'
    assert judge_parse(text, ["director", "editor"]) is None
    assert judge_parse(text, ["editor", "colorist"]) is not None


# -- the judge's fallback


def test_judge_fallback_names_the_pair_with_the_least_in_common() -> None:
    analyses = {
        "director": "story hook beats payoff character journey story hook",
        "cinematographer": "story hook beats lens framing camera",
        "editor": "story hook beats pacing cuts rhythm",
        "colorist": "palette grade teal amber contrast skin",
        "platform_expert": "story hook captions aspect vertical",
    }
    judgement = judge_fallback(analyses)
    assert {judgement.challenger, judgement.responder} == {"director", "colorist"}
    assert judgement.strength == 1.0
    assert "story" in judgement.topic and "palette" in judgement.topic
    assert judge_fallback(analyses) == judgement
    assert judge_fallback(dict(reversed(analyses.items()))) == judgement


def test_judge_fallback_is_deterministic_on_ties_and_skips_empty_analyses() -> None:
    analyses = {"editor": "pacing cuts", "colorist": "palette grade", "director": "   "}
    judgement = judge_fallback(analyses)
    assert (judgement.challenger, judgement.responder) == ("editor", "colorist")
    assert judgement.topic == (
        "pacing and transitions (pacing, cuts) against grade and mood (palette, grade)"
    )
    with pytest.raises(ValueError):
        judge_fallback({"editor": "pacing", "colorist": ""})
