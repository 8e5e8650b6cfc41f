"""The brief of a roundtable and the requests made from it, one builder per step.

``brief_build`` assembles the brief dict (plain data, stored with the session and carried in
every request's ``metadata["brief"]``)::

    {
      "brief": str,                     # what the video is, in the user's words
      "platform": str,                  # tiktok | instagram_reels | youtube_shorts | youtube
      "platform_label": str,
      "duration_seconds": int,
      "norms": {...},                   # PlatformNorms.as_dict() of the platform
      "series": {"name", "description"} | None,
      "characters": [{"name", "description", "look", "voice"}],
      "locations": [{"name", "description", "mood"}],
    }

Each builder returns a ``CompletionRequest`` whose ``metadata["purpose"]`` names the step
(``roundtable.analysis``, ``.judge``, ``.debate``, ``.synthesis``, ``.shots``) and carries what an
offline writer needs to answer it without a model (``roundtable.offline``). ``notes`` are what
people at the table added; they go into every prompt that takes them.

``judge_parse`` reads the judge's answer; ``judge_fallback`` names the pair when there is no
usable answer (the two analyses with the least vocabulary in common).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from generation.providers.base import CompletionRequest, Message
from roundtable.agents import AGENT_BY_KEY, AGENT_KEYS, AGENTS, Agent
from roundtable.norms import NORMS, spell_duration
from roundtable.shots import SHOT_COLUMNS, suggested_shot_count

ANALYSIS_PURPOSE = "roundtable.analysis"
JUDGE_PURPOSE = "roundtable.judge"
DEBATE_PURPOSE = "roundtable.debate"
SYNTHESIS_PURPOSE = "roundtable.synthesis"
SHOTS_PURPOSE = "roundtable.shots"
PURPOSES: tuple[str, ...] = (
    ANALYSIS_PURPOSE,
    JUDGE_PURPOSE,
    DEBATE_PURPOSE,
    SYNTHESIS_PURPOSE,
    SHOTS_PURPOSE,
)

ANALYSIS_MAX_TOKENS = 600
JUDGE_MAX_TOKENS = 200
DEBATE_MAX_TOKENS = 320
SYNTHESIS_MAX_TOKENS = 900
SHOTS_MAX_TOKENS = 2400
"""A shot list's ceiling: its request asks for less when the shots are fewer."""


# ---------------------------------------------------------------------------------------------
# The brief


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def _series(series: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not series or not _text(series.get("name")):
        return None
    return {"name": _text(series.get("name")), "description": _text(series.get("description"))}


def _items(items: Iterable[Mapping[str, Any]], keys: tuple[str, ...]) -> list[dict[str, str]]:
    cleaned = [{key: _text(item.get(key)) for key in keys} for item in items]
    return [item for item in cleaned if item["name"]]


def brief_build(
    *,
    brief: str,
    platform: str,
    duration_seconds: int,
    series: Mapping[str, Any] | None = None,
    characters: Iterable[Mapping[str, Any]] = (),
    locations: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The brief dict of a session. Raises ``ValueError`` for an unknown platform."""
    norms = NORMS.get(platform)
    if norms is None:
        raise ValueError(f"unknown platform {platform!r}")
    return {
        "brief": str(brief).strip(),
        "platform": norms.slug,
        "platform_label": norms.label,
        "duration_seconds": int(duration_seconds),
        "norms": norms.as_dict(),
        "series": _series(series),
        "characters": _items(characters, ("name", "description", "look", "voice")),
        "locations": _items(locations, ("name", "description", "mood")),
    }


def _sentence(*parts: str) -> str:
    text = " ".join(part for part in parts if part)
    return text if not text or text[-1] in ".!?" else f"{text}."


def _described(name: str, *sentences: str) -> str:
    said = " ".join(_sentence(sentence) for sentence in sentences if sentence)
    return f"- {name}: {said}" if said else f"- {name}"


def brief_prompt(brief: Mapping[str, Any]) -> str:
    """The brief, the platform's norms, the length and the world, as a prompt block."""
    norms = brief.get("norms") or {}
    seconds = int(brief.get("duration_seconds") or 0)
    label = brief.get("platform_label") or brief.get("platform")
    lines = [
        f"Brief: {brief.get('brief')}",
        f"Platform: {label}.",
        f"Platform norms: aspect ratio {norms.get('aspect')}; the viewer decides within the "
        f"first {norms.get('hook_seconds')} seconds; the platform allows up to "
        f"{spell_duration(int(norms.get('max_seconds') or 0))}.",
        f"Captions on {label}: {norms.get('captions')}",
        f"What works on {label}: {norms.get('notes')}",
        f"Target duration: {seconds} seconds.",
    ]
    series = brief.get("series")
    if series:
        about = f" — {_sentence(series['description'])}" if series.get("description") else ""
        lines.append(f"Series: {series['name']}{about}")
    characters = brief.get("characters") or []
    if characters:
        lines.append("Characters:")
        for character in characters:
            lines.append(
                _described(
                    character["name"],
                    character.get("description", ""),
                    f"Look: {character['look']}" if character.get("look") else "",
                    f"Voice: {character['voice']}" if character.get("voice") else "",
                )
            )
    locations = brief.get("locations") or []
    if locations:
        lines.append("Locations:")
        for location in locations:
            lines.append(
                _described(
                    location["name"],
                    location.get("description", ""),
                    f"Mood: {location['mood']}" if location.get("mood") else "",
                )
            )
    return "\n".join(lines)


def _notes(notes: Sequence[str]) -> list[str]:
    return [_text(note) for note in notes if _text(note)]


def _notes_prompt(notes: Sequence[str]) -> str:
    cleaned = _notes(notes)
    if not cleaned:
        return ""
    return "\n\nNotes from the people at the table (take them into account):\n" + "\n".join(
        f"- {note}" for note in cleaned
    )


def _ordered(analyses: Mapping[str, str]) -> list[tuple[str, str]]:
    known = [(key, analyses[key]) for key in AGENT_KEYS if key in analyses]
    others = sorted((key, text) for key, text in analyses.items() if key not in AGENT_BY_KEY)
    return [(key, text) for key, text in [*known, *others] if text and text.strip()]


def _agent_label(key: str) -> str:
    agent = AGENT_BY_KEY.get(key)
    return f"{agent.name} ({agent.role})" if agent else key


def analyses_prompt(analyses: Mapping[str, str]) -> str:
    return "\n\n".join(
        f"{_agent_label(key)} [{key}]:\n{text.strip()}" for key, text in _ordered(analyses)
    )


def _request(
    system: str,
    user: str,
    *,
    max_tokens: int,
    temperature: float,
    metadata: dict[str, Any],
) -> CompletionRequest:
    return CompletionRequest(
        messages=(Message("user", user),),
        system=system,
        max_tokens=max_tokens,
        temperature=temperature,
        metadata=metadata,
    )


def _agent(key: str) -> Agent:
    agent = AGENT_BY_KEY.get(key)
    if agent is None:
        raise ValueError(f"unknown agent {key!r}")
    return agent


# ---------------------------------------------------------------------------------------------
# The chair

ASK_INSTRUCTIONS = (
    "Only if the brief leaves a real choice open that changes the video on your side (and you "
    "cannot settle it yourself), end your analysis with these three lines and nothing after "
    "them:\nQUESTION: <one short question to the people chairing the table>\n"
    "OPTIONS: <option> | <option> (two to four options, separated by '|')\n"
    "DEFAULT: <the option you would take if nobody answers>"
)


def chair_prompt(
    notes: Sequence[str] = (),
    answers: Sequence[Mapping[str, Any]] = (),
    pins: Sequence[str] = (),
    vetoes: Sequence[str] = (),
) -> str:
    """What the people chairing the table said, for the end of a prompt."""
    text = _notes_prompt(notes)
    lines = []
    for answer in answers:
        agent = AGENT_BY_KEY.get(str(answer.get("agent")))
        who = agent.name if agent else str(answer.get("agent"))
        how = (
            "nobody answered in time, so the agent's default stands"
            if answer.get("timed_out")
            else "the chair answered"
        )
        lines.append(
            f"- The {who} asked: {_text(answer.get('question'))} ({how}): "
            f"{_text(answer.get('answer'))}"
        )
    if lines:
        text += "\n\nThe chair's answers (follow them):\n" + "\n".join(lines)
    if pins:
        text += "\n\nPoints the chair pinned (the final prompt must keep each of them):\n" + (
            "\n".join(f"- {_text(pin)}" for pin in pins)
        )
    if vetoes:
        text += (
            "\n\nPoints the chair vetoed (the final prompt must not contain them, in any "
            "words):\n" + "\n".join(f"- {_text(veto)}" for veto in vetoes)
        )
    return text


def with_chair(
    request: CompletionRequest,
    notes: Sequence[str] = (),
    answers: Sequence[Mapping[str, Any]] = (),
    pins: Sequence[str] = (),
    vetoes: Sequence[str] = (),
) -> CompletionRequest:
    """``request`` with what the chair said added to its last user message (and to its
    metadata, for the offline writer)."""
    extra = chair_prompt(notes, answers, pins, vetoes)
    if not extra:
        return request
    messages = list(request.messages)
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            messages[index] = Message("user", messages[index].content + extra)
            break
    metadata = dict(request.metadata)
    metadata["notes"] = [*metadata.get("notes", []), *_notes(notes)]
    if answers:
        metadata["answers"] = [dict(answer) for answer in answers]
    return dataclasses.replace(request, messages=tuple(messages), metadata=metadata)


def synthesis_revision_request(
    brief: Mapping[str, Any],
    previous: str,
    missing: Sequence[str],
    present: Sequence[str],
) -> CompletionRequest:
    """A second synthesis that keeps the pinned points it dropped and loses the vetoed ones it
    kept."""
    system = (
        "You are the showrunner closing a video pre-production roundtable. Revise the final "
        "text-to-video prompt below so that it keeps every point listed as missing and contains "
        "none of the points listed as vetoed, changing nothing else. Answer with the revised "
        "prompt only, in the same form."
    )
    parts = [brief_prompt(brief), f"The final video prompt to revise:\n{previous.strip()}"]
    if missing:
        parts.append("Missing (add them):\n" + "\n".join(f"- {_text(p)}" for p in missing))
    if present:
        parts.append("Vetoed (remove them):\n" + "\n".join(f"- {_text(p)}" for p in present))
    return _request(
        system,
        "\n\n".join(parts),
        max_tokens=SYNTHESIS_MAX_TOKENS,
        temperature=0.3,
        metadata={
            "purpose": SYNTHESIS_PURPOSE,
            "brief": dict(brief),
            "analyses": {},
            "debate": [],
            "notes": [],
            "revision_of": previous,
        },
    )


# ---------------------------------------------------------------------------------------------
# The analyses


def analysis_request(
    brief: Mapping[str, Any], agent_key: str, notes: Sequence[str] = ()
) -> CompletionRequest:
    """One agent's analysis of the brief. Raises ``ValueError`` for an unknown agent."""
    agent = _agent(agent_key)
    names = [other.name for other in AGENTS if other.key != agent.key]
    others = ", ".join(names[:-1]) + f" and {names[-1]}"
    system = (
        f"You are the {agent.name} at a video pre-production roundtable; you are responsible for "
        f"{agent.role}. The {others} analyse the same brief in parallel, each from their own "
        f"side, so stay on yours. Your analysis covers {agent.focus}.\n"
        "Be concrete and specific to this brief: name beats, shots, seconds, lenses, colours, "
        "the characters and the locations where they matter, and respect the platform's norms "
        "and the target duration.\n"
        "Write a concise analysis of about 150 to 250 words, in plain prose or short bullet "
        "points. Do not write a script, dialogue, headings or a call to action, and do not "
        "restate the brief.\n"
        f"{ASK_INSTRUCTIONS}"
    )
    user = (
        f"{brief_prompt(brief)}{_notes_prompt(notes)}\n\n"
        f"Your analysis as the {agent.name}, on {agent.role}:"
    )
    return _request(
        system,
        user,
        max_tokens=ANALYSIS_MAX_TOKENS,
        temperature=0.7,
        metadata={
            "purpose": ANALYSIS_PURPOSE,
            "agent": agent.key,
            "brief": dict(brief),
            "notes": _notes(notes),
        },
    )


# ---------------------------------------------------------------------------------------------
# The judge


@dataclass(frozen=True, slots=True)
class Judgement:
    challenger: str
    responder: str
    topic: str
    strength: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "challenger": self.challenger,
            "responder": self.responder,
            "topic": self.topic,
            "strength": self.strength,
        }


def judge_request(brief: Mapping[str, Any], analyses: Mapping[str, str]) -> CompletionRequest:
    """Which two analyses disagree most, and about what, as one JSON object."""
    keys = [key for key, _ in _ordered(analyses)]
    system = (
        "You moderate a video pre-production roundtable. Read the specialists' analyses of the "
        "brief and name the two whose analyses disagree most, and about what.\n"
        "Answer with ONE JSON object and nothing else, in this form:\n"
        '{"challenger": "<agent key>", "responder": "<agent key>", '
        '"topic": "<what they disagree about, under 15 words>", "strength": <0 to 1>}\n'
        "The challenger is the one who should question the other; strength is how far apart "
        "they are (0: they agree, 1: they cannot both be right). Use only these agent keys: "
        + ", ".join(keys)
        + "."
    )
    user = f"{brief_prompt(brief)}\n\nThe analyses:\n\n{analyses_prompt(analyses)}"
    return _request(
        system,
        user,
        max_tokens=JUDGE_MAX_TOKENS,
        temperature=0.2,
        metadata={"purpose": JUDGE_PURPOSE, "brief": dict(brief), "analyses": dict(analyses)},
    )


def _agent_key(value: Any, available: Sequence[str]) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    text = re.sub(r"^the\s+", "", text)
    text = re.sub(r"[\s\-]+", "_", text).replace("colourist", "colorist")
    if text in available:
        return text
    for key in available:
        agent = AGENT_BY_KEY.get(key)
        if agent is not None and text == agent.name.lower().replace(" ", "_"):
            return key
    return None


def _json_objects(text: str) -> Iterable[dict[str, Any]]:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def judge_parse(text: str | None, available_keys: Sequence[str]) -> Judgement | None:
    """The judgement in a judge's answer: the first JSON object (fenced or among prose) naming
    two different available agents and a topic; ``None`` when there is none."""
    available = list(available_keys)
    for found in _json_objects(text or ""):
        challenger = _agent_key(found.get("challenger"), available)
        responder = _agent_key(found.get("responder"), available)
        topic = _text(found.get("topic"))
        if challenger is None or responder is None or challenger == responder or not topic:
            continue
        try:
            strength = float(found.get("strength", 0.5))
        except (TypeError, ValueError):
            strength = 0.5
        if math.isnan(strength):
            strength = 0.5
        return Judgement(challenger, responder, topic[:200], round(min(max(strength, 0), 1), 2))
    return None


_STOPWORD_TEXT = """
about above after again against almost along also although always among around away because
been before being below between both cannot could does doing done down during each either
else ends enough even ever every feel first frame frames from further gets give given goes
going have having here hers however into itself just keep keeps last least less like made
make makes many might more most much must near need needs never next often once only onto
other others over quite rather really same second seconds shot shots should some something
start starts still such than that their theirs them then there these they think this those
though through thus toward under until upon used very video want wants well were what when
where whether which while whom whose will with within without work works would your yours
tiktok instagram reels youtube shorts platform
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def key_terms(text: str) -> Counter[str]:
    """The content words of a text (four letters or more, not stop words), counted."""
    words = re.findall(r"[a-z][a-z'-]{3,}", text.lower())
    return Counter(word.strip("'-") for word in words if word.strip("'-") not in _STOPWORDS)


def _distinct(mine: Counter[str], theirs: Counter[str], limit: int = 2) -> list[str]:
    order = {word: index for index, word in enumerate(mine)}
    ranked = sorted(
        (word for word in mine if word not in theirs), key=lambda w: (-mine[w], order[w])
    )
    return ranked[:limit]


def judge_fallback(analyses: Mapping[str, str]) -> Judgement:
    """The two analyses with the least vocabulary in common (Jaccard overlap of their content
    words; ties go to the earlier pair in seating order), the one with more terms of its own
    challenging, and a topic from the terms each uses and the other does not.

    Raises ``ValueError`` with fewer than two non-empty analyses.
    """
    ordered = _ordered(analyses)
    if len(ordered) < 2:
        raise ValueError("a debate needs two analyses")
    terms = {key: key_terms(text) for key, text in ordered}
    best: tuple[float, str, str] | None = None
    for i, (first, _) in enumerate(ordered):
        for second, _ in ordered[i + 1 :]:
            a, b = set(terms[first]), set(terms[second])
            overlap = len(a & b) / len(a | b) if a | b else 1.0
            if best is None or overlap < best[0]:
                best = (overlap, first, second)
    assert best is not None
    overlap, first, second = best
    if len(set(terms[second]) - set(terms[first])) > len(set(terms[first]) - set(terms[second])):
        first, second = second, first
    own, other = _distinct(terms[first], terms[second]), _distinct(terms[second], terms[first])
    topic = f"{_role(first)} against {_role(second)}"
    if own and other:
        topic = f"{_role(first)} ({', '.join(own)}) against {_role(second)} ({', '.join(other)})"
    return Judgement(first, second, topic, round(1 - overlap, 2))


def _role(key: str) -> str:
    agent = AGENT_BY_KEY.get(key)
    return agent.role if agent else key


# ---------------------------------------------------------------------------------------------
# The debate


def _judgement_metadata(judgement: Judgement) -> dict[str, Any]:
    return {"topic": judgement.topic, "strength": judgement.strength}


def debate_question_request(
    brief: Mapping[str, Any], analyses: Mapping[str, str], judgement: Judgement
) -> CompletionRequest:
    """The challenger's question to the responder."""
    challenger, responder = _agent(judgement.challenger), _agent(judgement.responder)
    system = (
        f"You are the {challenger.name} at a video pre-production roundtable, responsible for "
        f"{challenger.role}. You disagree with the {responder.name} about: {judgement.topic}.\n"
        f"Ask the {responder.name} ONE pointed question, in two to four sentences: name the "
        "specific point in their analysis you doubt and say why, with this brief's length and "
        "platform in mind. Speak to them directly, with no preamble and no headings."
    )
    user = (
        f"{brief_prompt(brief)}\n\n"
        f"Your analysis ({challenger.name}):\n{analyses.get(challenger.key, '').strip()}\n\n"
        f"The {responder.name}'s analysis:\n{analyses.get(responder.key, '').strip()}"
    )
    return _request(
        system,
        user,
        max_tokens=DEBATE_MAX_TOKENS,
        temperature=0.8,
        metadata={
            "purpose": DEBATE_PURPOSE,
            "role": "question",
            "speaker": challenger.key,
            "to": responder.key,
            **_judgement_metadata(judgement),
            "brief": dict(brief),
            "analyses": dict(analyses),
        },
    )


def debate_answer_request(
    brief: Mapping[str, Any],
    analyses: Mapping[str, str],
    judgement: Judgement,
    question: str,
) -> CompletionRequest:
    """The responder's answer to the challenger's question."""
    challenger, responder = _agent(judgement.challenger), _agent(judgement.responder)
    system = (
        f"You are the {responder.name} at a video pre-production roundtable, responsible for "
        f"{responder.role}. The {challenger.name} challenges you about: {judgement.topic}.\n"
        "Answer in three to five sentences: concede what is fair, hold what matters for your "
        "side, and end with one concrete decision the table can use (seconds, shots, lenses or "
        "colours). Speak to them directly, with no preamble and no headings."
    )
    user = (
        f"{brief_prompt(brief)}\n\n"
        f"Your analysis ({responder.name}):\n{analyses.get(responder.key, '').strip()}\n\n"
        f"The {challenger.name}'s analysis:\n{analyses.get(challenger.key, '').strip()}\n\n"
        f"The {challenger.name} asks you:\n{question.strip()}"
    )
    return _request(
        system,
        user,
        max_tokens=DEBATE_MAX_TOKENS,
        temperature=0.7,
        metadata={
            "purpose": DEBATE_PURPOSE,
            "role": "answer",
            "speaker": responder.key,
            "to": challenger.key,
            **_judgement_metadata(judgement),
            "question": question,
            "brief": dict(brief),
            "analyses": dict(analyses),
        },
    )


def _debate_prompt(debate: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for message in debate:
        speaker = AGENT_BY_KEY.get(str(message.get("from")))
        listener = AGENT_BY_KEY.get(str(message.get("to")))
        who = speaker.name if speaker else str(message.get("from"))
        to = f" to the {listener.name}" if listener else ""
        lines.append(f"{who}{to}: {_text(message.get('message'))}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The synthesis and the shot list


def synthesis_request(
    brief: Mapping[str, Any],
    analyses: Mapping[str, str],
    debate: Sequence[Mapping[str, Any]] = (),
    notes: Sequence[str] = (),
) -> CompletionRequest:
    """The final text-to-video prompt, built from every analysis and the debate."""
    norms = brief.get("norms") or {}
    system = (
        "You are the showrunner closing a video pre-production roundtable. Write the final "
        "prompt for a text-to-video model.\n"
        "First one rich paragraph: the subject, the characters and how they look, the location, "
        "the action in order, camera and lenses, light, colour grade, pacing, the aspect ratio "
        f"({norms.get('aspect')}) and the length ({brief.get('duration_seconds')} seconds). It "
        "must reconcile every analysis below and follow what the debate settled.\n"
        "Then a line 'Style and constraints:' and four to eight short bullet points (aspect, "
        "length, hook window, captions and on-screen text, palette, what to avoid).\n"
        "Write for the video model, not for people: no preamble, no headings, no script."
    )
    parts = [brief_prompt(brief), f"The analyses:\n\n{analyses_prompt(analyses)}"]
    if debate:
        parts.append(f"The debate:\n{_debate_prompt(debate)}")
    user = "\n\n".join(parts) + _notes_prompt(notes)
    return _request(
        system,
        user,
        max_tokens=SYNTHESIS_MAX_TOKENS,
        temperature=0.6,
        metadata={
            "purpose": SYNTHESIS_PURPOSE,
            "brief": dict(brief),
            "analyses": dict(analyses),
            "debate": [dict(message) for message in debate],
            "notes": _notes(notes),
        },
    )


def shots_table_header() -> str:
    return "| " + " | ".join(SHOT_COLUMNS) + " |\n|" + "|".join("---" for _ in SHOT_COLUMNS) + "|"


def shots_request(brief: Mapping[str, Any], synthesis: str) -> CompletionRequest:
    """The shot list as a Markdown table whose durations add up to the target."""
    seconds = int(brief.get("duration_seconds") or 0)
    count = suggested_shot_count(seconds)
    norms = brief.get("norms") or {}
    system = (
        "You are the first assistant director turning a final video prompt into a shot list.\n"
        "Answer with a Markdown table only, no prose before or after it, with exactly these "
        "columns in this order:\n"
        f"{shots_table_header()}\n"
        "One row per shot, numbered from 1. 'Duration (s)' is a number of seconds, and the "
        f"durations must add up to exactly {seconds}. About {count} shots suit {seconds} "
        "seconds (never fewer than 3 or more than 12). The first shot must hook the viewer "
        f"within {norms.get('hook_seconds')} seconds. Write '—' in a cell with nothing in it, "
        "and never use a '|' inside a cell."
    )
    user = f"{brief_prompt(brief)}\n\nThe final video prompt:\n{synthesis.strip()}"
    return _request(
        system,
        user,
        max_tokens=min(SHOTS_MAX_TOKENS, 300 + 110 * count),
        temperature=0.4,
        metadata={
            "purpose": SHOTS_PURPOSE,
            "brief": dict(brief),
            "synthesis": synthesis,
            "shot_count": count,
        },
    )
