"""The offline writers of a roundtable: what RuleBased answers when no model is configured.

One writer per request purpose (``roundtable.prompts``): each agent's analysis, the judge, the
two turns of the debate, the synthesis and the shot list. They read only ``request.metadata``
(the brief dict, the analyses, the debate so far, the notes), never a network; the same request
always gets the same text (choices are seeded from a hash of what the request carries).

The writers share one production plan made from the brief alone (beats, the shots with their
lengths, lenses, camera moves, a palette per location), so that the Director's beats, the
Editor's timings, the Colorist's palettes and the shot list agree with one another. Each analysis
stays on its agent's side and names the brief's subject, the platform, the length, and the
series, characters and locations when there are any. None is ever a script.

``register_offline_writers()`` registers them with RuleBased; the app calls it once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from generation.providers.base import CompletionRequest
from generation.providers.rulebased import register_writer
from roundtable.agents import AGENT_BY_KEY, AGENT_KEYS
from roundtable.norms import NORMS, spell_duration
from roundtable.prompts import (
    ANALYSIS_PURPOSE,
    DEBATE_PURPOSE,
    JUDGE_PURPOSE,
    SHOTS_PURPOSE,
    SYNTHESIS_PURPOSE,
    judge_fallback,
    key_terms,
)
from roundtable.shots import SHOT_COLUMNS, format_seconds, suggested_shot_count

MAX_NAMED = 4
"""How many characters (and locations) a writer names one by one; the rest are summed up."""

_SWEET_SPOTS: dict[str, tuple[int, int]] = {
    "tiktok": (15, 45),
    "instagram_reels": (15, 30),
    "youtube_shorts": (20, 45),
    "youtube": (240, 600),
}


def _seed(*parts: Any) -> int:
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "big")


def _words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words[:limit]) + ("…" if len(words) > limit else "")


def _clause(text: str, limit: int = 10) -> str:
    """The first clause of a description, short enough to sit inside a sentence."""
    first = re.split(r"(?<=[.!?;])\s+|\s+[—\u2013]\s+", text.strip(), maxsplit=1)[0]
    return _words(first.rstrip(".!?;, "), limit)


_LOWERABLE = frozenset(
    [
        "a",
        "an",
        "the",
        "her",
        "his",
        "their",
        "our",
        "my",
        "its",
        "we",
        "cold",
        "detail",
        "follow",
        "payoff",
        "back",
        "short",
        "some",
    ]
)


def _lower_first(text: str) -> str:
    """The text with its first word in lower case when that word is a common one (never a
    name), so that it can continue a sentence."""
    first = text.split(" ", 1)[0]
    if first.lower().rstrip(":,;") in _LOWERABLE and first[:1].isupper():
        return first.lower() + text[len(first) :]
    return text


def _cell(text: str) -> str:
    cell = " ".join(text.replace("|", "/").split()) or "—"
    return cell[:1].upper() + cell[1:]


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _a(word: str) -> str:
    """The word with its indefinite article ("an extreme close-up", "a wide")."""
    return f"{'an' if word[:1].lower() in 'aeio' else 'a'} {word}"


def _seconds(value: float) -> str:
    return f"{format_seconds(value)} s"


def _span(start: float, end: float) -> str:
    return f"{format_seconds(start)}\u2013{format_seconds(end)} s"


def _join(items: Sequence[str]) -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" and {items[-1]}"


# ---------------------------------------------------------------------------------------------
# Looks: what a mood becomes on screen


@dataclass(frozen=True, slots=True)
class _Look:
    palette: str
    lighting: str
    accent: str


_MOODS: tuple[tuple[tuple[str, ...], _Look], ...] = (
    (
        ("warm", "cosy", "cozy", "homely", "nostalgic", "intimate", "inviting", "friendly"),
        _Look(
            "amber and honey tones with soft cream highlights",
            "warm tungsten practicals with a soft window key",
            "amber",
        ),
    ),
    (
        ("tense", "ominous", "dark", "noir", "gritty", "moody", "threatening", "suspense"),
        _Look(
            "desaturated steel blue, deep blacks and a single sodium-orange accent",
            "hard low-key side light with deep shadow",
            "steel blue",
        ),
    ),
    (
        ("calm", "serene", "peaceful", "quiet", "tranquil", "misty", "soft", "still", "gentle"),
        _Look(
            "soft sage, sand and pale blue, low contrast with lifted shadows",
            "diffused overcast light with no hard shadows",
            "pale blue",
        ),
    ),
    (
        ("energetic", "vibrant", "lively", "playful", "fun", "bold", "joyful", "upbeat"),
        _Look(
            "saturated primaries with punchy contrast and clean whites",
            "bright high-key light with crisp edges",
            "primary red",
        ),
    ),
    (
        ("melancholy", "sad", "lonely", "rainy", "rain", "wistful", "grey", "gray", "bleak"),
        _Look(
            "muted teal and cool greys at low saturation",
            "flat, cool daylight through wet glass",
            "muted teal",
        ),
    ),
    (
        ("eerie", "mysterious", "uncanny", "haunted", "strange", "spooky"),
        _Look(
            "sickly green-cyan midtones over deep shadows",
            "a single motivated source with heavy falloff",
            "green-cyan",
        ),
    ),
    (
        ("romantic", "dreamy", "tender", "magical", "wedding"),
        _Look(
            "rose and peach with a gentle bloom on the highlights",
            "golden backlight through haze",
            "rose",
        ),
    ),
    (
        ("futuristic", "neon", "cyber", "electric", "nightlife", "night", "club"),
        _Look(
            "magenta and cyan neon against deep navy",
            "neon practicals and wet reflections",
            "cyan",
        ),
    ),
    (
        ("industrial", "urban", "raw", "concrete", "busy", "city", "street", "traffic"),
        _Look(
            "concrete greys with sodium-vapour orange highlights",
            "mixed street light, sodium and LED",
            "sodium orange",
        ),
    ),
    (
        ("fresh", "clean", "modern", "minimal", "bright", "airy", "crisp", "studio"),
        _Look(
            "clean whites and neutral skin with one brand accent",
            "a large soft key with white bounce",
            "clean white",
        ),
    ),
    (
        ("epic", "grand", "heroic", "majestic", "golden", "sunrise", "dawn", "sunset"),
        _Look(
            "golden-hour gold against deep teal shadows",
            "low sun as a backlight with a warm rim on faces",
            "gold",
        ),
    ),
)
_DEFAULT_LOOKS = tuple(look for _, look in _MOODS)


def _look_for(text: str, rng: random.Random) -> _Look:
    for word in re.findall(r"[a-z]+", text.lower()):
        for keywords, look in _MOODS:
            if word in keywords:
                return look
    return rng.choice(_DEFAULT_LOOKS)


_COLOURS = (
    r"red|blue|yellow|green|teal|orange|purple|pink|gold|golden|navy|maroon|crimson|olive|"
    r"mustard|turquoise|lilac|violet|scarlet|amber|magenta|cyan|coral|emerald"
)
"""Saturated colours only: a black coat or a grey hoodie is not an accent."""


def _colour_details(look: str) -> tuple[str, ...]:
    """The coloured items of a character's look ("yellow helmet"), in order."""
    found = re.findall(rf"\b({_COLOURS})\s+([a-z][a-z-]+)", look.lower())
    return tuple(f"{colour} {thing}" for colour, thing in found)


# ---------------------------------------------------------------------------------------------
# The world and the plan, from the brief alone

_GENERIC_TEXT = """
    teaser launch clip film reel reels short shorts tiktok instagram youtube minute minutes
    promo piece content viewers audience showing featuring including using making getting
    looking explaining highlighting introducing brand product people brief style story about
    should could would quick fast simple
"""
_GENERIC = frozenset(_GENERIC_TEXT.split())
_HERO = re.compile(
    r"\b(?:for|of|about|featuring|showing|introducing|launching|selling)\s+"
    r"((?:the|a|an|our|my|their|his|her|its)\s+)?"
    r"([^,.:;!?()]{3,60}?)"
    r"(?=\s+(?:that|which|who|where|with|as|and|in|at|to|while|when|for|from|on)\b|[,.:;!?()]|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Person:
    name: str
    description: str
    look: str
    voice: str

    @property
    def accents(self) -> tuple[str, ...]:
        """The coloured items of the look ("teal scrubs", "yellow helmet"), two at most."""
        return _colour_details(self.look)[:2] if self.look else ()

    @property
    def accent_phrase(self) -> str:
        return f"{self.name}'s {_join(list(self.accents))}" if self.accents else ""


@dataclass(frozen=True, slots=True)
class _Place:
    name: str
    description: str
    mood: str
    look: _Look


@dataclass(frozen=True, slots=True)
class _PlannedShot:
    number: int
    role: str
    shot_type: str
    description: str
    seconds: float
    camera: str
    lens: str
    lighting: str
    color: str
    text: str


@dataclass(frozen=True, slots=True)
class _Plan:
    subject: str
    hero: str
    platform: str
    label: str
    aspect: str
    vertical: bool
    hook_window: int
    max_seconds: int
    captions: str
    seconds: int
    series: dict[str, str] | None
    people: tuple[_Person, ...]
    places: tuple[_Place, ...]
    look: _Look
    hook: float
    """When the hook shot ends."""
    turn: float
    """When the turn starts: a cut (the payoff's, in a three-shot plan, which has no turn)."""
    payoff: float
    """When the last shot starts."""
    lenses: tuple[str, str, str]
    move: str
    shots: tuple[_PlannedShot, ...]
    hook_text: str

    @property
    def lead(self) -> str:
        return self.people[0].name if self.people else "the lead"

    @property
    def setting(self) -> str:
        return self.places[0].name if self.places else "the main location"

    @property
    def has_turn(self) -> bool:
        return self.turn < self.payoff

    @property
    def shift_at(self) -> float | None:
        """Where the second location's look takes over, when it does."""
        start = 0.0
        for shot in self.shots:
            if shot.color != self.shots[0].color:
                return start
            start += shot.seconds
        return None

    @property
    def asl(self) -> float:
        return self.seconds / len(self.shots)

    def person(self, index: int) -> _Person | None:
        return self.people[index % len(self.people)] if self.people else None

    def place(self, index: int) -> _Place | None:
        return self.places[index % len(self.places)] if self.places else None


def _subject(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s+", " ".join(text.split()), maxsplit=1)[0]
    return _words(first.rstrip(".!? "), 18) or "the brief"


def _motifs(text: str, limit: int = 3) -> tuple[str, ...]:
    originals: dict[str, str] = {}
    for token in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", text):
        originals.setdefault(token.lower().strip("'-"), token.strip("'-"))
    counts = key_terms(text)
    order = {word: index for index, word in enumerate(counts)}
    ranked = sorted(
        (word for word in counts if word not in _GENERIC),
        key=lambda word: (-counts[word], order[word]),
    )
    return tuple(originals.get(word, word) for word in ranked[:limit])


def _hero(subject: str, motifs: Sequence[str], taken: str) -> str:
    """What the piece shows off: the phrase after "for", "of", "about", ... in the subject, or
    the brief's leading content word that is not a character or a place (``taken``)."""
    match = _HERO.search(subject)
    if match and len(match.group(2).split()) <= 6:
        return f"{(match.group(1) or 'the ').lower()}{match.group(2).strip()}"
    excluded = set(re.findall(r"[a-z]+", taken.lower()))
    candidates = [motif for motif in motifs if motif.lower() not in excluded] or list(motifs)
    for motif in candidates:
        if not re.search(r"(?:ing|ed|es)$", motif.lower()):
            return motif if motif[:1].isupper() else f"the {motif}"
    return f"the {candidates[0].lower()}" if candidates else "the subject"


def _hook_text(brief: str, hero: str, series: Mapping[str, str] | None) -> str:
    subject = _subject(brief)
    after = re.split(r":\s+", subject, maxsplit=1)
    if len(after) == 2 and after[1]:
        source = after[1]
    elif len(subject.split()) <= _CARD_WORDS:
        source = subject
    else:
        source = hero
    words = source.split()
    if words and words[0].lower() in _ARTICLES:
        words = words[1:]
    words = words[:_CARD_WORDS]
    while words and words[-1].lower() in _DANGLING:
        words.pop()
    line = " ".join(words).strip(",;") or (series or {}).get("name", "") or "Watch this"
    return line[:1].upper() + line[1:]


_CARD_WORDS = 6
"""The most words an on-screen card carries."""
_ARTICLES = frozenset({"the", "a", "an", "our", "my", "their", "his", "her"})
_DANGLING = _ARTICLES | {"at", "of", "to", "and", "for", "in", "on", "with", "by", "from", "or"}


def _allocate(weights: Sequence[float], total_units: int) -> list[int]:
    """Whole units proportional to ``weights``, at least one each (when there are enough), by
    largest remainder."""
    scale = total_units / sum(weights)
    raw = [weight * scale for weight in weights]
    units = [max(1, int(share)) for share in raw]
    order = sorted(range(len(raw)), key=lambda i: (int(raw[i]) - raw[i], i))
    step = 0
    while sum(units) < total_units:
        units[order[step % len(order)]] += 1
        step += 1
    step = 0
    while sum(units) > total_units and any(unit > 1 for unit in units):
        index = order[-1 - step % len(order)]
        if units[index] > 1:
            units[index] -= 1
        step += 1
    return units


_LENS_KITS: tuple[tuple[str, str, str], ...] = (
    ("24mm", "50mm", "100mm macro"),
    ("28mm", "40mm", "85mm"),
    ("21mm", "35mm", "90mm macro"),
    ("24mm", "35mm", "85mm"),
)
_MOVES = (
    "slow push-ins",
    "a handheld follow at shoulder height",
    "locked-off frames with movement inside them",
    "gimbal moves that track with the action",
)
_HOOK_TYPES = ("Extreme close-up", "Close-up", "Macro insert")
_MIDDLE_ROLES = (
    "character",
    "detail",
    "turn",
    "follow",
    "reaction",
    "return",
    "proof",
    "shoulder",
    "alongside",
)


def _plan(brief: Mapping[str, Any]) -> _Plan:
    text = str(brief.get("brief") or "")
    platform = str(brief.get("platform") or "tiktok")
    norms = dict(brief.get("norms") or (NORMS[platform].as_dict() if platform in NORMS else {}))
    seconds = max(1, int(brief.get("duration_seconds") or norms.get("default_seconds") or 30))
    rng = random.Random(_seed("plan", dict(brief)))
    series_raw = brief.get("series") or None
    series = (
        {
            "name": str(series_raw.get("name", "")),
            "description": str(series_raw.get("description", "")),
        }
        if series_raw and series_raw.get("name")
        else None
    )
    people = tuple(
        _Person(
            str(c.get("name", "")),
            str(c.get("description", "")),
            str(c.get("look", "")),
            str(c.get("voice", "")),
        )
        for c in brief.get("characters") or []
        if c.get("name")
    )
    places = tuple(
        _Place(
            str(place.get("name", "")),
            str(place.get("description", "")),
            str(place.get("mood", "")),
            _look_for(f"{place.get('mood', '')} {place.get('description', '')}", rng),
        )
        for place in brief.get("locations") or []
        if place.get("name")
    )
    look = places[0].look if places else _look_for(text, rng)
    subject = _subject(text)
    motifs = _motifs(text, limit=6)
    taken = " ".join(
        [*(f"{p.name} {p.description}" for p in people), *(place.name for place in places)]
    )
    hero = _hero(subject, motifs, taken)
    hook_window = int(norms.get("hook_seconds") or 2)
    plan = _Plan(
        subject=subject,
        hero=hero,
        platform=platform,
        label=str(brief.get("platform_label") or norms.get("label") or platform),
        aspect=str(norms.get("aspect") or "9:16"),
        vertical=str(norms.get("aspect") or "9:16") == "9:16",
        hook_window=hook_window,
        max_seconds=int(norms.get("max_seconds") or 600),
        captions=str(norms.get("captions") or ""),
        seconds=seconds,
        series=series,
        people=people,
        places=places,
        look=look,
        hook=0.0,
        turn=0.0,
        payoff=0.0,
        lenses=rng.choice(_LENS_KITS),
        move=rng.choice(_MOVES),
        shots=(),
        hook_text=_hook_text(text, hero, series),
    )
    return _with_shots(plan, rng)


def _with_shots(plan: _Plan, rng: random.Random) -> _Plan:
    count = suggested_shot_count(plan.seconds)
    roles = ["hook", "establish", *_MIDDLE_ROLES[: max(0, count - 3)], "payoff"][:count]
    if count >= 4 and "turn" not in roles:
        roles[2] = "turn"
    unit = 1.0 if plan.seconds >= 2 * count else 0.5 if plan.seconds >= count else 0.1
    total_units = round(plan.seconds / unit)
    hook_units = max(1, min(round(plan.hook_window / unit), total_units // count))
    weights = [
        {"payoff": 1.4, "establish": 1.1, "detail": 0.8, "reaction": 0.8}.get(role, 1.0)
        * rng.uniform(0.9, 1.1)
        for role in roles[1:]
    ]
    rest = _allocate(weights, total_units - hook_units)
    durations = [hook_units * unit, *(units * unit for units in rest)]
    wide, mid, tight = plan.lenses
    hook_type = rng.choice(_HOOK_TYPES)
    change = roles.index("turn") if "turn" in roles else len(roles) - 1
    """The second location takes over at the turn (at the payoff when there is none)."""
    shots: list[_PlannedShot] = []
    person_index = 0
    introduced: set[str] = set()
    for index, role in enumerate(roles):
        place = plan.place(0 if index < change or len(plan.places) < 2 else 1)
        person = plan.person(person_index)
        who = person.name if person else "the lead"
        where = place.name if place else plan.setting
        look = place.look if place else plan.look
        wearing = ""
        if person and person.look and person.name not in introduced and role != "hook":
            wearing = f" in {_clause(person.look, 6)}"
            introduced.add(person.name)
        text = "—"
        if role == "hook":
            shot_type, lens = hook_type, tight
            description = (
                f"Cold open on {plan.hero} already in motion; {who}'s hand enters frame and the "
                "promise reads before the first cut"
            )
            camera = "Fast push-in"
            text = plan.hook_text
        elif role == "establish":
            shot_type, lens, camera = "Wide", wide, "Slow push-in"
            about = (
                f" ({_lower_first(_clause(place.description, 8))})"
                if place and place.description
                else ""
            )
            description = f"{where}{about} in one look; {who}{wearing} enters frame"
            if person:
                role_words = re.split(r"[,;.]", person.description)[0].split()
                text = (
                    f"{who}, {_lower_first(' '.join(role_words))}"
                    if 0 < len(role_words) <= 3
                    else who
                )
        elif role == "character":
            shot_type, lens, camera = "Medium", mid, "Handheld at eye level"
            description = f"{who}{wearing} at {where}; we read what is at stake from the face"
            person_index += 1
        elif role == "detail":
            shot_type, lens, camera = "Insert", tight, "Slider move across"
            description = f"Detail of {plan.hero}: texture and the one thing the brief is about"
        elif role == "turn":
            shot_type, lens, camera = "Medium close-up", mid, "Whip pan into frame"
            description = f"The turn: {who} at {where}, the moment the situation flips"
        elif role == "follow":
            shot_type, lens, camera = "Tracking", mid, "Gimbal follow"
            description = f"Follow {who} through {where}; the background streaks past"
        elif role == "reaction":
            shot_type, lens, camera = "Close-up", tight, "Locked off"
            description = f"{who} reacts; hold a beat longer than feels safe"
            person_index += 1
        elif role == "proof":
            shot_type, lens, camera = "Close-up", tight, "Rack focus"
            description = f"Rack focus from {who}'s hands to {plan.hero}: the proof, up close"
        elif role == "shoulder":
            shot_type, lens, camera = "Over-the-shoulder", mid, "Slow arc"
            description = f"Over {who}'s shoulder at {where}: what they see next"
            person_index += 1
        elif role == "alongside":
            shot_type, lens, camera = "Low angle", wide, "Dolly alongside"
            description = f"Low and alongside {who} as {where} opens up ahead"
        elif role == "return":
            shot_type, lens, camera = "Wide", wide, "Drone drift"
            description = f"Back out wide over {where}: how far things have moved since the open"
        else:
            who = plan.lead
            shot_type, lens, camera = "Wide", wide, "Slow pull-back"
            description = f"Payoff: {who} with {plan.hero} at {where}, the result on show"
            text = plan.series["name"] if plan.series else plan.hook_text
        shots.append(
            _PlannedShot(
                number=index + 1,
                role=role,
                shot_type=shot_type,
                description=description,
                seconds=durations[index],
                camera=camera,
                lens=lens,
                lighting=look.lighting[:1].upper() + look.lighting[1:],
                color=look.palette[:1].upper() + look.palette[1:],
                text=text,
            )
        )
    starts = [sum(shot.seconds for shot in shots[:index]) for index in range(len(shots))]
    payoff = starts[-1]
    turn = next((starts[i] for i, shot in enumerate(shots) if shot.role == "turn"), payoff)
    return dataclasses.replace(
        plan, shots=tuple(shots), hook=shots[0].seconds, turn=turn, payoff=payoff
    )


# ---------------------------------------------------------------------------------------------
# Helpers the analyses share


def _metadata(request: CompletionRequest) -> dict[str, Any]:
    return dict(request.metadata or {})


def _brief_of(metadata: Mapping[str, Any]) -> dict[str, Any]:
    brief = metadata.get("brief")
    return dict(brief) if isinstance(brief, Mapping) else {}


def _named(items: Sequence[str]) -> list[str]:
    if len(items) <= MAX_NAMED:
        return list(items)
    return [*items[:MAX_NAMED], f"{len(items) - MAX_NAMED} more"]


def _cast_sentence(plan: _Plan, line: Callable[[_Person], str]) -> str:
    return " ".join(line(person) for person in plan.people[:MAX_NAMED])


def _place_sentence(plan: _Plan, line: Callable[[_Place], str]) -> str:
    return " ".join(line(place) for place in plan.places[:MAX_NAMED])


def _series_sentence(plan: _Plan, text: str) -> str:
    return text.format(series=plan.series["name"]) if plan.series else ""


def _notes_sentences(notes: Sequence[str], reply: str) -> str:
    return " ".join(f"On the table's note “{_words(note, 25)}”: {reply}" for note in notes)


def _line(*sentences: str) -> str:
    return " ".join(sentence.strip() for sentence in sentences if sentence and sentence.strip())


def _paragraphs(*parts: str) -> str:
    return "\n\n".join(part.strip() for part in parts if part and part.strip())


def _bullets(*items: str) -> str:
    return "\n".join(f"- {item}" for item in items if item)


def _shot_of(plan: _Plan, role: str) -> _PlannedShot:
    return next((shot for shot in plan.shots if shot.role == role), plan.shots[-1])


# ---------------------------------------------------------------------------------------------
# The five analyses


def _director(plan: _Plan, rng: random.Random, notes: Sequence[str]) -> str:
    lead, setting = plan.lead, plan.setting
    second = plan.places[1].name if len(plan.places) > 1 else setting
    arc = rng.choice(
        (
            "I read it as a small before-and-after: a friction we recognise, then the moment "
            "it stops being one.",
            "It wants a journey shape: start in friction, end in relief, and let the picture "
            "carry the change.",
            f"The shape is a reveal: hold back the full picture of {plan.hero} until the turn, "
            "then pay it off in one image.",
        )
    )
    opening = (
        f"Story first. “{plan.subject}” has room for one idea in {plan.seconds} seconds on "
        f"{plan.label}, and every beat below serves it. {arc}"
    )
    beats = _bullets(
        f"{_span(0, plan.hook)}, the hook: {plan.hero} already in motion, {lead} mid-problem; no "
        "logo, no preamble, the question lands before the thumb moves.",
        f"{_span(plan.hook, plan.turn)}, the setup: {lead} at {setting}; we know what {lead} "
        "wants within one shot.",
        (
            f"{_span(plan.turn, plan.payoff)}, the turn: the situation changes around "
            f"{plan.hero} at {second}, shown, not explained."
            if plan.has_turn
            else ""
        ),
        f"{_span(plan.payoff, plan.seconds)}, the payoff: the result on {lead}'s face; end on an "
        "image, not a slogan.",
    )
    cast = _cast_sentence(
        plan,
        lambda p: (
            f"{p.name} ({_lower_first(_clause(p.description, 10)) or 'our way in'})"
            + (f"; keep the voice as written: {_clause(p.voice, 6)}" if p.voice else "")
            + "."
        ),
    )
    places = _place_sentence(
        plan,
        lambda place: (
            f"{place.name} should feel {_clause(place.mood, 5).lower() or 'lived in'} from "
            "its first frame."
        ),
    )
    series = _series_sentence(
        plan,
        "This is an episode of {series}, so the rhythm of the opening and the last image should "
        "rhyme with the others.",
    )
    if plan.series and plan.series.get("description"):
        series += f" Its promise comes first: {_clause(plan.series['description'], 12)}."
    takeaway = (
        f"What the viewer should leave with: the difference {plan.hero} makes between the first "
        "frame and the last."
    )
    reply = f"I'll carry it in the setup beat, before {_seconds(plan.turn)}."
    return _paragraphs(
        opening, beats, _line(cast, places, series), _notes_sentences(notes, reply), takeaway
    )


def _cinematographer(plan: _Plan, rng: random.Random, notes: Sequence[str]) -> str:
    wide, mid, tight = plan.lenses
    lead = plan.lead
    if plan.vertical:
        framing = (
            f"Framing for {plan.aspect}: the tall frame rewards one subject and strong vertical "
            f"lines, so keep {lead}'s eyes on the upper third and leave the bottom fifth clean "
            f"for {_possessive(plan.label)} interface."
        )
    else:
        framing = (
            f"Framing for {plan.aspect}: the wide frame lets us layer foreground, subject and "
            "background, so build depth in the frame rather than cutting to explain where we are."
        )
    lens_lines = _bullets(
        f"{wide} for {_join(_named([p.name for p in plan.places])) or plan.setting}: "
        "establish once, wide and still, so the cut to people means something.",
        f"{mid} on {_join(_named([p.name for p in plan.people])) or lead}: eye level, shallow "
        "enough to separate faces from the background.",
        f"{tight} for the insert on {plan.hero}: texture and detail, the shot that sells it.",
    )
    hook_shot = _shot_of(plan, "hook")
    camera = (
        f"Camera language: {plan.move}. The opening {hook_shot.shot_type.lower()} is a "
        f"{hook_shot.camera.lower()} that has to read inside {_seconds(plan.hook)}; save the whip "
        f"pan for the turn at {_seconds(plan.turn)}, and everywhere else keep the camera calm so "
        "movement reads as a decision."
    )
    light = _place_sentence(
        plan, lambda place: f"At {place.name}, {place.look.lighting}, motivated by what is there."
    ) or (f"Light: {plan.look.lighting}, motivated by practical sources in shot.")
    cast = _cast_sentence(
        plan,
        lambda p: (
            f"{p.name}'s look ({_clause(p.look, 6)}) needs a clean edge light to hold against "
            "the background."
            if p.look
            else f"Give {p.name} a consistent key side across every set-up."
        ),
    )
    series = _series_sentence(
        plan, "Lens choices stay the same as the rest of {series} so episodes cut together."
    )
    coverage = (
        f"Coverage for {plan.label}: {len(plan.shots)} set-ups in {plan.seconds} seconds, about "
        f"{_seconds(round(plan.asl, 1))} each, so every frame must read at a glance."
    )
    reply = rng.choice(
        (
            "it gets its own set-up, framed on the centre of the frame so it survives any crop.",
            "I'll plan a dedicated set-up for it and light it first.",
        )
    )
    return _paragraphs(
        framing,
        lens_lines,
        camera,
        _line(light, cast, series),
        coverage,
        _notes_sentences(notes, reply),
    )


def _editor(plan: _Plan, rng: random.Random, notes: Sequence[str]) -> str:
    count = len(plan.shots)
    per_minute = round(60 / plan.asl)
    if plan.asl < 2.5:
        judgement = "brisk, which suits a feed as long as the picture is simple"
    elif plan.asl < 5:
        judgement = "a steady rhythm with room to breathe on faces"
    else:
        judgement = "unhurried, so the energy must come from movement inside the shots"
    durations = [shot.seconds for shot in plan.shots]
    longest = max(durations)
    shortest = min(durations)
    opening = (
        f"Pacing at {plan.seconds} seconds for {plan.label}: {count} shots average "
        f"{_seconds(round(plan.asl, 1))}, about {per_minute} cuts a minute, {judgement}."
    )
    sections = _bullets(
        f"Opening ({_span(0, plan.hook)}): one cut at most; motion first, then the question.",
        f"Setup ({_span(plan.hook, plan.turn)}): let {plan.lead} breathe, shots of "
        f"{_seconds(shortest)} to {_seconds(round(plan.asl, 1))}.",
        (
            f"Turn ({_span(plan.turn, plan.payoff)}): accelerate, cutting on action."
            if plan.has_turn
            else ""
        ),
        f"Payoff ({_span(plan.payoff, plan.seconds)}): the longest hold of the piece, "
        f"{_seconds(longest)}, and let the sound tail out over it.",
    )
    places = [place.name for place in plan.places]
    if len(places) >= 2:
        transitions = (
            f"Transitions: a match cut on {plan.hero} carries us from {places[0]} to {places[1]}; "
        )
    else:
        transitions = f"Transitions: match cuts on {plan.hero} do the work at {plan.setting}; "
    transitions += (
        f"J-cuts let {_join(_named([p.name for p in plan.people])) or 'the lead'}'s sound lead "
        "into each new picture; no dissolves, they read as waiting."
    )
    if plan.platform == "youtube":
        ending = (
            "At this length, change the picture or the idea every 20 to 40 seconds and mark the "
            "chapters where the beats turn."
        )
    else:
        ending = rng.choice(
            (
                "The last frame should flow back into the first so the loop earns a rewatch.",
                "Cut the ending so that the final frame matches the opening one and the loop is "
                "seamless.",
            )
        )
    series = _series_sentence(
        plan, "Keep the cold-open timing identical across {series} so it becomes a signature."
    )
    hits = sorted({plan.hook, plan.turn, plan.payoff})
    music = f"Music hit points at {_join([_seconds(hit) for hit in hits])}."
    reply = "I'll find the time for it by trimming the setup, not the payoff."
    return _paragraphs(
        opening,
        sections,
        transitions,
        _line(ending, music, series),
        _notes_sentences(notes, reply),
    )


def _colorist(plan: _Plan, rng: random.Random, notes: Sequence[str]) -> str:
    if plan.places:
        moods = _join(
            [
                f"“{_clause(place.mood, 4).lower()}” at {place.name}"
                if place.mood
                else f"whatever {place.name} gives us"
                for place in plan.places[:MAX_NAMED]
            ]
        )
        opening = (
            f"Over {plan.seconds} seconds the look follows the places, {moods}, and the grade "
            f"carries “{plan.subject}” more than any line could."
        )
        per_place = _bullets(
            *(
                f"{place.name} ({_clause(place.mood, 5).lower() or 'no mood given'}): "
                f"{place.look.palette}; {place.look.lighting}."
                for place in plan.places[:MAX_NAMED]
            )
        )
    else:
        opening = (
            "No locations are set, so the palette comes from the brief itself: "
            f"{plan.look.palette}, carrying “{plan.subject}” for {plan.seconds} seconds."
        )
        per_place = _bullets(
            f"Base grade: {plan.look.palette}.",
            f"Light to match: {plan.look.lighting}.",
        )
    accents = [person.accent_phrase for person in plan.people[:MAX_NAMED] if person.accents]
    skin = (
        "Skin tones stay natural in every grade: "
        + _join(_named([person.name for person in plan.people]) or ["the lead"])
        + " must look like themselves in every location."
    )
    if accents:
        many = len(accents) > 1 or " and " in accents[0]
        skin += (
            f" Let {_join(accents)} be the saturated accents; everything else sits around them."
            if many
            else f" Let {accents[0]} be the one saturated accent; everything else sits around it."
        )
    if plan.vertical:
        contrast = (
            f"Contrast for phones in daylight ({plan.label}, {plan.aspect}): a touch more "
            "contrast and saturation than neutral, rich blacks that stop short of crushing."
        )
    else:
        contrast = (
            f"Contrast for 16:9 on {plan.label}, watched on desktops and TVs as much as phones: "
            "more latitude in the shadows and a soft highlight roll-off."
        )
    shift_at = plan.shift_at
    shift = (
        f"The grade shifts once, on the cut at {_seconds(shift_at)}: "
        f"{plan.places[1].look.accent} takes over from {plan.places[0].look.accent}."
        if shift_at is not None and len(plan.places) > 1
        else f"The grade warms a step on the cut at {_seconds(plan.turn)} and holds to the end."
    )
    series = (
        _series_sentence(
            plan, "One show LUT for {series}, trimmed per shot, keeps episodes consistent."
        )
        or "One base LUT, trimmed per shot, keeps the piece consistent."
    )
    captions = rng.choice(
        (
            "Caption text stays white with a soft shadow, never in the accent colour.",
            "Keep on-screen text neutral white so it never fights the accent.",
        )
    )
    reply = "the grade will carry it without adding another colour."
    return _paragraphs(
        opening,
        per_place,
        skin,
        _line(contrast, shift, series, captions),
        _notes_sentences(notes, reply),
    )


def _length_fit(plan: _Plan) -> str:
    low, high = _SWEET_SPOTS.get(plan.platform, (15, 60))
    if plan.seconds > plan.max_seconds:
        return (
            f"{plan.seconds} seconds is over {_possessive(plan.label)} limit of "
            f"{spell_duration(plan.max_seconds)}: it will not post as one piece, so cut to {high} "
            "seconds or split it."
        )
    if plan.seconds > high:
        return (
            f"{plan.seconds} seconds is longer than what usually completes on {plan.label} "
            f"({low} to {high}); every second after {high} has to earn itself."
        )
    if plan.seconds < low:
        return (
            f"{plan.seconds} seconds is short for {plan.label} (most completed pieces run {low} to "
            f"{high}), which suits a loop: make the last frame run into the first."
        )
    return (
        f"{plan.seconds} seconds sits inside the {low} to {high} second range where completion "
        f"stays high on {plan.label}."
    )


_SAFE_ZONES = {
    "tiktok": "keep text off the right-hand rail of buttons and out of the bottom fifth",
    "instagram_reels": (
        "keep faces and text in the middle of the frame, where no crop or overlay reaches them"
    ),
    "youtube_shorts": "keep text above the bottom quarter and away from the right-hand rail",
    "youtube": "keep titles inside the title-safe area, clear of the player bar",
}


def _platform_expert(plan: _Plan, rng: random.Random, notes: Sequence[str]) -> str:
    shape = "vertical, full screen" if plan.vertical else "horizontal"
    opening = f"{plan.label} wants {plan.aspect} ({shape}). Length: {_length_fit(plan)}" + (
        f" The platform itself allows up to {spell_duration(plan.max_seconds)}."
        if plan.seconds <= plan.max_seconds
        else ""
    )
    hook = (
        f"Hook window: {plan.hook_window} seconds. The first frame must already show {plan.hero} "
        f"moving, with “{plan.hook_text}” on screen by {_seconds(min(plan.hook, 1.0))}; no logo "
        "sting, no slow fade in."
    )
    captions = f"Captions: {plan.captions}"
    safe = (
        f"Safe zones: {_SAFE_ZONES.get(plan.platform, 'keep text central')}; on-screen cards of "
        "six words at most."
    )
    cast = ""
    if plan.people:
        cast = (
            f"Name {_join(_named([p.name for p in plan.people]))} in the caption, not only on "
            "the picture, so search and accessibility pick them up."
        )
    places = ""
    if plan.places:
        places = (
            f"Tag {_join(_named([p.name for p in plan.places]))} as the location where the "
            "platform allows it."
        )
    series = _series_sentence(
        plan,
        "Put {series} on the cover as a recurring title so the episodes read as a set.",
    )
    if plan.platform == "youtube":
        extra = (
            "Plan a thumbnail frame and chapters from the beats; the first 30 seconds decide "
            "whether the algorithm keeps showing it."
        )
    elif plan.platform == "instagram_reels":
        extra = "Choose a cover frame that works cropped to 3:4 on the profile grid."
    else:
        extra = rng.choice(
            (
                "A seamless loop back to the opening frame counts as a rewatch.",
                "Post with the sound it uses named in the caption; trends travel by sound.",
            )
        )
    reply = f"it fits {plan.label} as long as it reads inside the first {plan.hook_window} seconds."
    return _paragraphs(
        opening,
        hook,
        _line(captions, safe),
        _line(cast, places, series, extra),
        _notes_sentences(notes, reply),
    )


_ANALYSTS: dict[str, Callable[[_Plan, random.Random, Sequence[str]], str]] = {
    "director": _director,
    "cinematographer": _cinematographer,
    "editor": _editor,
    "colorist": _colorist,
    "platform_expert": _platform_expert,
}


def analysis_writer(request: CompletionRequest) -> str:
    """An agent's analysis of the brief (``metadata["agent"]``, ``["brief"]``, ``["notes"]``);
    the Cinematographer's ends with a question to the chair when the brief leaves the time of
    day open between two or three times."""
    metadata = _metadata(request)
    brief = _brief_of(metadata)
    agent = str(metadata.get("agent") or "director")
    notes = [str(note) for note in metadata.get("notes") or []]
    write = _ANALYSTS.get(agent, _director)
    rng = random.Random(_seed("analysis", agent, brief, notes))
    text = write(_plan(brief), rng, notes)
    if agent == "cinematographer":
        times = times_left_open(str(brief.get("brief") or ""))
        if times:
            text += (
                "\n\nQUESTION: The brief leaves the time of day open: "
                + " or ".join(time.lower() for time in times)
                + "? The light, the lenses and the grade all follow from it."
                + "\nOPTIONS: "
                + " | ".join(times)
                + f"\nDEFAULT: {times[0]}"
            )
    return text


_TIMES = (
    "golden hour",
    "blue hour",
    "sunrise",
    "dawn",
    "morning",
    "midday",
    "noon",
    "afternoon",
    "sunset",
    "dusk",
    "evening",
    "night",
    "midnight",
)
_TIME = r"(?:(?:at|in\s+the|by|during\s+the|during)\s+)?(" + "|".join(_TIMES) + r")"
_OPEN_TIMES = re.compile(rf"\b{_TIME}(?:\s*,\s*{_TIME})?\s*,?\s+or\s+{_TIME}\b", re.IGNORECASE)


def times_left_open(brief: str) -> list[str]:
    """The times of day a brief leaves open ("at dawn or at night", "morning, noon or night"),
    capitalised, in its order; empty when it names one time or none."""
    found = _OPEN_TIMES.search(brief)
    if found is None:
        return []
    times: list[str] = []
    for time in found.groups():
        if time and time.lower() not in {t.lower() for t in times}:
            times.append(time.lower().capitalize())
    return times if len(times) >= 2 else []


# ---------------------------------------------------------------------------------------------
# The judge and the debate


def judge_writer(request: CompletionRequest) -> str:
    """The judge's JSON object, by ``judge_fallback``; ``{}`` with fewer than two analyses."""
    analyses = {
        str(key): str(text) for key, text in (_metadata(request).get("analyses") or {}).items()
    }
    try:
        judgement = judge_fallback(analyses)
    except ValueError:
        return "{}"
    return json.dumps(judgement.as_dict(), ensure_ascii=False)


def _sentences(text: str) -> list[str]:
    flat = " ".join(line.strip(" -*") for line in text.splitlines() if line.strip())
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+", flat) if part.strip()]


def _closest_sentence(text: str, topic: str) -> str:
    sentences = _sentences(text)
    if not sentences:
        return ""
    wanted = set(key_terms(topic))
    best = max(
        enumerate(sentences),
        key=lambda item: (len(set(key_terms(item[1])) & wanted), -item[0]),
    )
    return _words(best[1].rstrip("."), 22)


def _name(key: str) -> str:
    agent = AGENT_BY_KEY.get(key)
    return agent.name if agent else key


_CONCERNS: dict[str, Callable[[_Plan], str]] = {
    "director": lambda p: (
        f"My worry is the story: if the viewer cannot say what {p.lead} wants by "
        f"{_seconds(p.turn)}, nothing after it lands."
    ),
    "cinematographer": lambda p: (
        f"My worry is the picture: in {p.aspect} at {_seconds(round(p.asl, 1))} a shot, anything "
        "that is not composed to read at a glance is just noise."
    ),
    "editor": lambda p: (
        f"My worry is time: we have {p.seconds} seconds and {len(p.shots)} shots, about "
        f"{_seconds(round(p.asl, 1))} each, and every extra beat comes out of the payoff."
    ),
    "colorist": lambda p: (
        f"My worry is continuity: the look has to hold from {p.setting} to the last frame, and "
        "every change needs a reason the audience feels."
    ),
    "platform_expert": lambda p: (
        f"My worry is the feed: on {p.label} the viewer decides in {p.hook_window} seconds, often "
        "with the sound off."
    ),
}

_ASKS: dict[str, Callable[[_Plan], str]] = {
    "director": lambda p: f"What does that give the story that {p.lead} cannot show us faster?",
    "cinematographer": lambda p: (
        "Which shot does that replace, and how will it read on a phone held at arm's length?"
        if p.vertical
        else "Which shot does that replace, and what does the frame show while it happens?"
    ),
    "editor": lambda p: (
        f"Where do the seconds for it come from, and which beat before {_seconds(p.payoff)} "
        "gives them up?"
    ),
    "colorist": lambda p: (
        f"Can it live inside one look, or are you asking me to change the grade mid-shot at "
        f"{_seconds(p.turn)}?"
    ),
    "platform_expert": lambda p: (
        f"Does it still work if the only thing people see is the first {p.hook_window} seconds, "
        "muted?"
    ),
}

_BRIDGES: dict[str, Callable[[_Plan], str]] = {
    "director": lambda p: f"the story has to be legible by {_seconds(p.turn)}.",
    "cinematographer": lambda p: "every frame has to read at a glance.",
    "editor": lambda p: f"{p.seconds} seconds is all we have.",
    "colorist": lambda p: "the look has to hold from the first frame to the last.",
    "platform_expert": lambda p: f"the first {p.hook_window} seconds decide everything.",
}
"""What the responder grants the challenger's side, before its own concession."""

_CONCESSIONS: dict[str, Callable[[_Plan], str]] = {
    "director": lambda p: (
        f"I'll give you the setup: it can lose a beat, and {p.lead}'s want can be shown in the "
        "opening shot instead."
    ),
    "cinematographer": lambda p: (
        "I'll give you one set-up: the second wide goes, and the insert carries that information."
    ),
    "editor": lambda p: (
        "I'll give you a longer hold on the turn, even if the middle gets tighter for it."
    ),
    "colorist": lambda p: (
        f"I'll keep the look in one family and move any shift onto a hard cut at "
        f"{_seconds(p.turn)}, never mid-shot."
    ),
    "platform_expert": lambda p: (
        "I'll drop the second text card; one caption in the opening is enough."
    ),
}

_HOLDS: dict[str, Callable[[_Plan], str]] = {
    "director": lambda p: (
        f"What I won't give up is the payoff on {p.lead}'s face; without it there is no story."
    ),
    "cinematographer": lambda p: (
        f"What I won't give up is the {p.lenses[2]} insert on {p.hero}; it is the shot that sells "
        "it."
    ),
    "editor": lambda p: (
        f"What I won't give up is the rhythm of the opening: {_seconds(p.hook)}, one cut, no more."
    ),
    "colorist": lambda p: (
        f"What I won't give up is {p.look.palette} as the base; it is the mood the brief asks for."
    ),
    "platform_expert": lambda p: (
        f"What I won't give up is {p.hero} on screen inside {p.hook_window} seconds."
    ),
}

_DECISIONS: dict[str, Callable[[_Plan], str]] = {
    "director": lambda p: (
        f"Decision: the turn moves to {_seconds(p.turn)} and the last "
        f"{_seconds(p.seconds - p.payoff)} belong to the payoff."
    ),
    "cinematographer": lambda p: (
        f"Decision: {len(p.shots)} set-ups, {p.lenses[0]}, {p.lenses[1]} and {p.lenses[2]} only, "
        f"with the insert at the turn."
    ),
    "editor": lambda p: (
        f"Decision: shot one is {_seconds(p.shots[0].seconds)}, the payoff holds "
        f"{_seconds(p.shots[-1].seconds)}, and the middle shares the rest."
    ),
    "colorist": lambda p: (
        f"Decision: {p.look.accent} stays the accent throughout, and skin tones are protected in "
        "every shot."
    ),
    "platform_expert": lambda p: (
        f"Decision: “{p.hook_text}” goes on screen in the first second, inside the safe zone."
    ),
}


def debate_writer(request: CompletionRequest) -> str:
    """A turn of the debate: the challenger's question (``role: "question"``) or the
    responder's answer (``role: "answer"``)."""
    metadata = _metadata(request)
    brief = _brief_of(metadata)
    plan = _plan(brief)
    speaker = str(metadata.get("speaker") or AGENT_KEYS[0])
    listener = str(metadata.get("to") or AGENT_KEYS[1])
    topic = str(metadata.get("topic") or "")
    analyses = {str(k): str(v) for k, v in (metadata.get("analyses") or {}).items()}
    rng = random.Random(_seed("debate", metadata.get("role"), speaker, listener, topic, brief))
    if metadata.get("role") == "answer":
        opener = rng.choice(("Fair question", "That's the right worry", "Fair"))
        bridge = _BRIDGES.get(listener, _BRIDGES["director"])(plan)
        concede = _CONCESSIONS.get(speaker, _CONCESSIONS["director"])(plan)
        hold = _HOLDS.get(speaker, _HOLDS["director"])(plan)
        decide = _DECISIONS.get(speaker, _DECISIONS["director"])(plan)
        return f"{opener}, {_name(listener)}: {bridge} {concede} {hold} {decide}"
    quoted = _closest_sentence(analyses.get(listener, ""), topic)
    about = f"We disagree about {topic}." if topic else ""
    concern = _CONCERNS.get(speaker, _CONCERNS["director"])(plan)
    ask = _ASKS.get(speaker, _ASKS["director"])(plan)
    if quoted:
        return _line(f"{_name(listener)}, you say “{quoted}”.", about, concern, ask)
    opening = _lower_first(about or concern)
    rest = [concern, ask] if about else [ask]
    return _line(f"{_name(listener)}, {opening}", *rest)


# ---------------------------------------------------------------------------------------------
# The synthesis and the shot list


def _concrete_sentence(text: str) -> str:
    """The sentence of an analysis with the most specifics in it (numbers, lenses, names)."""
    sentences = _sentences(text)
    if not sentences:
        return ""

    def score(item: tuple[int, str]) -> tuple[int, int]:
        index, sentence = item
        specifics = re.findall(r"\d+|\b[A-Z][a-z]+", sentence)
        return len(specifics), -index

    return _words(max(enumerate(sentences), key=score)[1], 30)


def _unlabelled(description: str) -> str:
    """A planned shot's description without its beat label, ready to continue a sentence."""
    return _lower_first(re.sub(r"^(?:Payoff|The turn):\s+", "", description))


def synthesis_writer(request: CompletionRequest) -> str:
    """The final video prompt: one paragraph from the plan, then the constraints, what each
    analysis contributed and what the debate settled."""
    metadata = _metadata(request)
    brief = _brief_of(metadata)
    plan = _plan(brief)
    analyses = {str(k): str(v) for k, v in (metadata.get("analyses") or {}).items()}
    debate = [m for m in metadata.get("debate") or [] if isinstance(m, Mapping)]
    notes = [str(note) for note in metadata.get("notes") or []]
    shape = "Vertical 9:16" if plan.vertical else "Horizontal 16:9"
    first, *_, last = plan.shots
    cast = "; ".join(
        f"{p.name}, {_lower_first(_clause(p.description, 10)) or 'the lead'}"
        + (f", in {_clause(p.look, 8)}" if p.look else "")
        for p in plan.people[:MAX_NAMED]
    )
    places = "; ".join(
        f"{place.name} ({_lower_first(_clause(place.description, 10)) or 'the setting'}"
        + (f", {_clause(place.mood, 5).lower()})" if place.mood else ")")
        for place in plan.places[:MAX_NAMED]
    )
    wanted = ("establish", "character", "turn", "follow")
    middle = [shot for shot in plan.shots[1:-1] if shot.role in wanted][:4]
    story = "; ".join(_unlabelled(shot.description) for shot in middle) or "the story plays out"
    graded = plan.look.palette
    if plan.shift_at is not None and len(plan.places) > 1:
        graded += (
            f", shifting to {plan.places[1].look.palette} at {plan.places[1].name} from "
            f"{_seconds(plan.shift_at)}"
        )
    paragraph = (
        f"{shape} video, {plan.seconds} seconds, for {plan.label}: {plan.subject}. "
        + (f"With {cast}. " if cast else "")
        + (f"Set in {places}. " if places else "")
        + f"Open on {_a(first.shot_type.lower())} ({first.lens}, {first.camera.lower()}): "
        f"{_lower_first(first.description)}. Then {story}. "
        f"End on {_a(last.shot_type.lower())} ({last.lens}, {last.camera.lower()}): "
        f"{_unlabelled(last.description)}. "
        f"Shot on {_join(list(plan.lenses))} with {plan.move}; {plan.look.lighting}; graded "
        f"{graded}. Cut rhythm about {_seconds(round(plan.asl, 1))} a shot, quickest "
        "in the opening, the longest hold on the final image."
    )
    constraints = [
        f"Aspect {plan.aspect}, {plan.seconds} seconds, {len(plan.shots)} shots.",
        f"Hook inside {plan.hook_window} seconds: “{plan.hook_text}” on screen in the first "
        "second.",
        f"Captions: {plan.captions}",
        f"Palette: {plan.look.palette}.",
    ]
    accents = [p.accent_phrase for p in plan.people[:MAX_NAMED] if p.accents]
    if accents:
        constraints.append(
            f"Keep {_join(accents)} identical in every shot, the only saturated colour."
        )
    else:
        constraints.append(
            f"{plan.look.accent[:1].upper()}{plan.look.accent[1:]} as the only accent."
        )
    if plan.series:
        constraints.append(f"Series look and title card of {plan.series['name']}.")
    constraints.append(
        "Avoid: logos before the hook, slow fades, text in the platform's interface zones, "
        "warped hands and faces, flicker."
    )
    for message in debate:
        if message.get("from") and message.get("message"):
            said = _sentences(str(message["message"]))
            if said and str(message.get("from")) != str(debate[0].get("from")):
                constraints.append(f"Settled in debate ({_name(str(message['from']))}): {said[-1]}")
    for note in notes:
        constraints.append(f"Table note: {_words(note, 25)}")
    contributions = [
        f"From the {_name(key)}: {_concrete_sentence(analyses[key])}"
        for key in [*AGENT_KEYS, *sorted(set(analyses) - set(AGENT_KEYS))]
        if analyses.get(key, "").strip()
    ]
    parts = [paragraph, "Style and constraints:\n" + _bullets(*constraints)]
    if contributions:
        parts.append("From the table:\n" + _bullets(*contributions))
    return "\n\n".join(parts)


def shots_writer(request: CompletionRequest) -> str:
    """The shot list as the Markdown table ``shots_request`` asks for; durations add up to the
    target exactly."""
    plan = _plan(_brief_of(_metadata(request)))
    lines = [
        "| " + " | ".join(SHOT_COLUMNS) + " |",
        "|" + "|".join("---" for _ in SHOT_COLUMNS) + "|",
    ]
    for shot in plan.shots:
        cells = [
            str(shot.number),
            shot.shot_type,
            shot.description,
            format_seconds(shot.seconds),
            shot.camera,
            shot.lens,
            shot.lighting,
            shot.color,
            shot.text,
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


WRITERS: dict[str, Callable[[CompletionRequest], str]] = {
    ANALYSIS_PURPOSE: analysis_writer,
    JUDGE_PURPOSE: judge_writer,
    DEBATE_PURPOSE: debate_writer,
    SYNTHESIS_PURPOSE: synthesis_writer,
    SHOTS_PURPOSE: shots_writer,
}


def register_offline_writers() -> None:
    """Answer every roundtable purpose with its offline writer in RuleBased."""
    for purpose, writer in WRITERS.items():
        register_writer(purpose, writer)
