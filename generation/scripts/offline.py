"""The offline script writer: a deterministic template engine that writes a video script.

RuleBased (``generation.providers.rulebased``) calls ``script_writer`` for requests whose
``metadata["purpose"]`` is ``"script"``; this app registers it in ``ScriptsConfig.ready``. It never
calls a network and never fails. The same request always produces the same text.

What it reads: ``request.metadata["brief"]``, a dict (every key optional)::

    {
      "topic": str,                       # what the video is about
      "audience": str,                    # who it is for
      "tone": str,                        # e.g. "friendly", "professional", "energetic"
      "platform": str,                    # slug: youtube, youtube_shorts, tiktok, instagram, ...
      "duration_seconds": int,            # target running time
      "words_per_minute": int,            # delivery speed; budget = duration x wpm / 60
      "key_points": [{"text": str, "priority": "must" | "should" | "nice"}],
      "template": {"slug": str, "name": str,
                   "sections": [{"key": str, "title": str, "share": float, "guidance": str}]},
      "persona": {"name": str, "voice": str, "audience": str, "do": [str], "dont": [str]},
    }

and ``request.metadata["continue_text"]`` (or a trailing assistant message): a script written so
far, which it continues with the sections still missing. With no brief the last user message is
the topic.

What it writes: one ``## Title`` heading line per section (the template's sections, or Hook /
Body / Call to action), the hook first, the call to action last, every key point in priority
order (must, then should, then nice; in the order given within a priority), sized to the word
budget. When the budget cannot hold every key point, nice ones are dropped first, then should
ones; a must key point is never dropped.

It returns the whole text; RuleBased streams it in paced word groups and marks it template output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from generation.providers.base import CompletionRequest
from generation.scripts.textutils import (
    content_stems,
    count_words,
    normalise,
    split_sections,
    stems_match,
    titles_match,
    word_budget,
)
from generation.scripts.textutils import (
    words as words_of,
)

_PRIORITY_ORDER = {"must": 0, "should": 1, "nice": 2}


# ---------------------------------------------------------------------------------------------
# The brief


@dataclass(frozen=True, slots=True)
class SectionSpec:
    key: str
    title: str
    share: float
    guidance: str = ""

    @property
    def role(self) -> str:
        key = normalise(self.key).replace("-", "_")
        title = normalise(self.title)
        if key in {"hook", "intro_hook", "opening", "headline"} or title in {"hook", "headline"}:
            return "hook"
        if key in {"cta", "call_to_action", "outro"} or "call to action" in title:
            return "cta"
        return "body"


DEFAULT_SECTIONS = (
    SectionSpec("hook", "Hook", 0.15, "Grab attention in the first seconds."),
    SectionSpec("body", "Body", 0.70, "Deliver the key points in order."),
    SectionSpec("cta", "Call to action", 0.15, "Tell the viewer what to do next."),
)


@dataclass(frozen=True, slots=True)
class KeyPoint:
    text: str
    priority: str
    order: int


@dataclass(frozen=True, slots=True)
class PersonaSpec:
    name: str = ""
    voice: str = ""
    audience: str = ""
    do: tuple[str, ...] = ()
    dont: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScriptBrief:
    topic: str
    audience: str = ""
    tone: str = ""
    platform: str = "youtube"
    duration_seconds: int = 60
    words_per_minute: int = 150
    key_points: tuple[KeyPoint, ...] = ()
    sections: tuple[SectionSpec, ...] = DEFAULT_SECTIONS
    persona: PersonaSpec | None = None

    @property
    def budget(self) -> int:
        return word_budget(self.duration_seconds, self.words_per_minute)

    @classmethod
    def from_request(cls, request: CompletionRequest) -> ScriptBrief:
        raw = request.metadata.get("brief")
        fallback = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        return cls.from_dict(raw if isinstance(raw, dict) else {}, fallback_topic=fallback)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, fallback_topic: str = "") -> ScriptBrief:
        topic = _clean(str(raw.get("topic") or "")) or _topic_from_prompt(fallback_topic)
        points: list[KeyPoint] = []
        for index, item in enumerate(raw.get("key_points") or []):
            if isinstance(item, dict):
                text, priority = str(item.get("text") or ""), str(item.get("priority") or "must")
            else:
                text, priority = str(item), "must"
            text = _clean(text)
            if text:
                priority = priority if priority in _PRIORITY_ORDER else "should"
                points.append(KeyPoint(text, priority, index))
        sections = _sections_from(raw.get("template"))
        persona = _persona_from(raw.get("persona"))
        audience = _clean(str(raw.get("audience") or "")) or (persona.audience if persona else "")
        return cls(
            topic=topic or "this topic",
            audience=audience,
            tone=_clean(str(raw.get("tone") or "")),
            platform=str(raw.get("platform") or "youtube"),
            duration_seconds=_positive_int(raw.get("duration_seconds"), 60),
            words_per_minute=_positive_int(raw.get("words_per_minute"), 150),
            key_points=tuple(sorted(points, key=lambda p: (_PRIORITY_ORDER[p.priority], p.order))),
            sections=sections,
            persona=persona,
        )


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _positive_int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _topic_from_prompt(prompt: str) -> str:
    text = _clean(prompt)
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    tokens = first.split()
    return " ".join(tokens[:14]).rstrip(",;:")


def _sections_from(template: Any) -> tuple[SectionSpec, ...]:
    if not isinstance(template, dict):
        return DEFAULT_SECTIONS
    specs: list[SectionSpec] = []
    for index, item in enumerate(template.get("sections") or []):
        if not isinstance(item, dict):
            continue
        title = _clean(str(item.get("title") or "")) or f"Part {index + 1}"
        key = _clean(str(item.get("key") or "")) or title.lower().replace(" ", "_")
        try:
            share = float(item.get("share") or 0)
        except (TypeError, ValueError):
            share = 0.0
        specs.append(SectionSpec(key, title, max(share, 0.0), str(item.get("guidance") or "")))
    if not specs:
        return DEFAULT_SECTIONS
    total = sum(spec.share for spec in specs)
    if total <= 0:
        return tuple(SectionSpec(s.key, s.title, 1 / len(specs), s.guidance) for s in specs)
    return tuple(SectionSpec(s.key, s.title, s.share / total, s.guidance) for s in specs)


def _persona_from(raw: Any) -> PersonaSpec | None:
    if not isinstance(raw, dict):
        return None

    def listed(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = value.splitlines()
        return tuple(_clean(str(v)) for v in (value or []) if _clean(str(v)))

    return PersonaSpec(
        name=_clean(str(raw.get("name") or "")),
        voice=_clean(str(raw.get("voice") or "")),
        audience=_clean(str(raw.get("audience") or "")),
        do=listed(raw.get("do")),
        dont=listed(raw.get("dont")),
    )


# ---------------------------------------------------------------------------------------------
# Phrase banks

_REGISTER_WORDS = {
    "lively": ("energetic", "excited", "hype", "upbeat", "bold", "punchy", "enthusiastic", "fun"),
    "gentle": ("calm", "warm", "friendly", "relaxed", "soft", "kind", "soothing", "gentle"),
    "formal": ("professional", "formal", "serious", "authoritative", "corporate", "expert"),
    "light": ("humorous", "funny", "witty", "playful", "quirky", "cheeky", "light"),
    "uplifting": ("inspiring", "inspirational", "motivating", "motivational", "hopeful"),
}

_HOOK_OPENERS = {
    "neutral": (
        "Today we're looking at {topic}.",
        "This video is about {topic}.",
        "Let's talk about {topic}.",
    ),
    "lively": ("Let's dive straight into {topic}!", "Ready? This is {topic}!"),
    "gentle": ("Let's take a calm look at {topic}.", "Today, let's explore {topic} together."),
    "formal": ("This briefing covers {topic}.", "In this video we examine {topic}."),
    "light": ("Buckle up: it's time for {topic}.", "Stick around, because {topic} is on."),
    "uplifting": ("Today is about {topic}.", "Let's make progress on {topic} today."),
}

_HOOK_FILLERS = (
    "If you're {audience}, this one is for you.",
    "Here's what most people miss.",
    "It's simpler than it looks.",
    "Stay to the end; it all comes together.",
    "By the end, you'll know exactly what to do.",
    "No fluff, just what works.",
    "You'll see why it matters in a minute.",
    "Most guides get this part wrong.",
    "Give it a couple of minutes and it will click.",
    "Stick with me.",
)

_PLATFORM_CTA = {
    "youtube": (
        "Subscribe for more videos like this.",
        "Tell me in the comments what you'd add.",
        "Hit like if this helped.",
    ),
    "youtube_shorts": ("Follow for more quick tips.", "Like this short if it helped."),
    "tiktok": ("Follow for part two.", "Save this for later.", "Duet this with your take."),
    "instagram": ("Save this reel for later.", "Share it with a friend who needs it."),
    "linkedin": ("Share your thoughts in the comments.", "Follow for more insights like this."),
    "facebook": ("Share this with someone who needs it.", "Follow the page for more."),
    "x": ("Repost if this helped.", "Follow for more threads like this."),
    "podcast": ("Subscribe wherever you listen.", "Leave a review if this helped."),
}
_CTA_FILLERS = (
    "Thanks for watching.",
    "Try it this week and see the difference.",
    "Let me know how it goes.",
    "See you in the next one.",
    "Start small, and start today.",
    "Come back to this whenever you need a refresher.",
    "Pass it on to someone who'll use it.",
)

_POINT_FORMS: dict[str, tuple[str, ...]] = {
    "steps": ("Step {n}: {point}.",),
    "list": ("Number {n}: {point}.",),
    "pros": ("What works: {point}.", "Another strength: {point}."),
    "cons": ("What doesn't: {point}.", "Another weak spot: {point}."),
    "recap": ("Remember: {point}.", "And: {point}."),
    "body": (
        "Here's a key point: {point}.",
        "Keep this in mind: {point}.",
        "Next: {point}.",
        "Don't forget this: {point}.",
        "Also worth knowing: {point}.",
        "One more: {point}.",
    ),
}
_SECTION_FAMILY = {
    "steps": "steps",
    "step_by_step": "steps",
    "list": "list",
    "the_list": "list",
    "items": "list",
    "pros": "pros",
    "what_works": "pros",
    "cons": "cons",
    "what_doesnt": "cons",
    "recap": "recap",
    "summary": "recap",
}

_POINT_ELABORATIONS = (
    "That one makes the biggest difference.",
    "Get it right and everything after gets easier.",
    "It's a small detail with a big payoff.",
    "Skip it and you'll feel it later.",
    "Most people rush past this, so take your time.",
    "Try it once and you'll see why.",
    "It sounds obvious, but it's easy to forget.",
    "This is where real progress starts.",
    "Think of it as the foundation for everything else.",
    "It takes a minute and saves an hour.",
    "For {audience}, this is the part that counts.",
    "Keep it simple and it sticks.",
)

_SECTION_FILLERS: dict[str, tuple[str, ...]] = {
    "overview": (
        "You don't need much to get started.",
        "A little preparation saves a lot of time.",
        "Gather everything before you begin.",
        "Set aside a few minutes without distractions.",
        "Here's what you'll want to have ready.",
    ),
    "steps": (
        "Take it one step at a time.",
        "Don't rush this part.",
        "Check your progress before moving on.",
        "If something looks off, go back one step.",
        "Each step builds on the one before.",
    ),
    "recap": (
        "Let's recap what we covered.",
        "That's the whole process in a nutshell.",
        "Each piece builds on the last.",
        "Put together, it's a simple routine.",
    ),
    "list": (
        "Each of these is worth your time.",
        "You don't need all of them at once.",
        "Pick the one that fits you best.",
        "They work even better together.",
    ),
    "bonus": (
        "Here's a bonus tip.",
        "One more thing worth knowing.",
        "This one rarely gets mentioned.",
        "Keep it in your back pocket.",
    ),
    "setup": (
        "It started like any other day.",
        "Nothing seemed out of the ordinary.",
        "Picture the scene for a moment.",
        "Everything was about to change.",
    ),
    "conflict": (
        "Then things got complicated.",
        "That's when the problem showed up.",
        "It wasn't going to be easy.",
        "Every option looked risky.",
    ),
    "resolution": (
        "In the end, a simple change made the difference.",
        "Slowly, things started to work.",
        "The answer was there all along.",
        "That turned everything around.",
    ),
    "lesson": (
        "The lesson is simple.",
        "Here's what to take away.",
        "It applies far beyond this story.",
    ),
    "first_impressions": (
        "Out of the box, first impressions matter.",
        "It looks and feels considered.",
        "Setup takes only a few minutes.",
    ),
    "pros": (
        "This is where it shines.",
        "In daily use, it holds up well.",
        "It does the basics really well.",
    ),
    "cons": (
        "It isn't perfect, though.",
        "There are trade-offs to know about.",
        "Some of this may not matter to you.",
    ),
    "verdict": (
        "So, is it worth it?",
        "For most people, the answer is yes.",
        "Weigh the trade-offs against your needs.",
        "It earns a clear recommendation.",
    ),
    "question": (
        "So what's really going on here?",
        "It's a question plenty of people ask.",
        "The short answer surprises most people.",
    ),
    "how_it_works": (
        "Here's how it works.",
        "Break it into parts and it gets clearer.",
        "The mechanism is simpler than it sounds.",
        "One thing leads to the next.",
    ),
    "why_it_matters": (
        "Here's why it matters.",
        "The impact reaches further than you'd think.",
        "It changes how you'll see the rest.",
    ),
    "what_happened": (
        "Here's what happened.",
        "The details are still coming in.",
        "The timing is what caught attention.",
    ),
    "whats_next": (
        "So what comes next?",
        "Keep an eye on the coming weeks.",
        "We'll follow up as things develop.",
    ),
}
_FILLER_ALIASES = {
    "what_you_ll_need": "overview",
    "what_youll_need": "overview",
    "step_by_step": "steps",
    "the_list": "list",
    "what_works": "pros",
    "what_doesnt": "cons",
    "the_question": "question",
}

_OPENERS = (
    "",
    "Honestly, ",
    "In practice, ",
    "Remember, ",
    "Here's the thing: ",
    "For {audience}, ",
    "Over time, ",
    "Put simply, ",
    "Above all, ",
    "In my experience, ",
)
_CORES = (
    "{topic} rewards patience.",
    "small details add up.",
    "the basics matter more than the tools.",
    "consistency beats intensity.",
    "it's worth doing properly.",
    "clarity comes before speed.",
    "you learn most by doing.",
    "mistakes are part of the process.",
    "a clear plan keeps you on track.",
    "the simplest version is often the best one.",
    "getting started is the hardest part.",
    "you don't need to be perfect to begin.",
    "good habits make {topic} easier.",
    "a little practice goes a long way.",
    "what you skip today costs you tomorrow.",
    "the right order makes everything smoother.",
    "it's easier when you know why each part matters.",
    "progress comes from repetition, not luck.",
    "one change at a time is enough.",
    "the details are where the quality shows.",
    "you can always refine it later.",
    "a quick check now saves a redo later.",
    "it pays to understand the trade-offs.",
    "the goal is progress, not perfection.",
)
_CLOSERS = (
    "That's key.",
    "Simple as that.",
    "Keep going.",
    "Worth it.",
    "Trust the process.",
    "It adds up.",
    "Try it.",
    "Stay curious.",
)


# ---------------------------------------------------------------------------------------------
# The engine


def _register(brief: ScriptBrief) -> str:
    words = normalise(" ".join([brief.tone, brief.persona.voice if brief.persona else ""]))
    for register, cues in _REGISTER_WORDS.items():
        if any(re.search(rf"\b{cue}", words) for cue in cues):
            return register
    return "neutral"


def _inline(text: str) -> str:
    """Text as it reads inside a sentence: no end punctuation, a plain word not capitalised."""
    text = text.strip().rstrip(".!?;:,")
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _sentence(template: str, **slots: str) -> str:
    text = template.format(**slots)
    text = re.sub(r"\s+", " ", text).strip()
    return text[0].upper() + text[1:] if text else text


def _seed(brief: ScriptBrief, continue_text: str) -> int:
    payload = json.dumps(
        {
            "topic": brief.topic,
            "audience": brief.audience,
            "tone": brief.tone,
            "platform": brief.platform,
            "duration": brief.duration_seconds,
            "wpm": brief.words_per_minute,
            "points": [(p.text, p.priority) for p in brief.key_points],
            "sections": [(s.key, s.title, round(s.share, 6)) for s in brief.sections],
            "persona": None if brief.persona is None else dataclasses.astuple(brief.persona),
            "continue": continue_text,
        },
        sort_keys=True,
    )
    return int.from_bytes(hashlib.sha256(payload.encode()).digest()[:8], "big")


def _section_key(spec: SectionSpec) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", normalise(spec.key)).strip("_")
    return _FILLER_ALIASES.get(key, key)


@dataclass
class _Plan:
    spec: SectionSpec
    points: list[KeyPoint] = field(default_factory=list)
    mandatory: list[str] = field(default_factory=list)
    target: float = 0.0


class ScriptWriter:
    """Writes one script for one brief; deterministic for a given brief and starting text."""

    def __init__(self, brief: ScriptBrief, continue_text: str = "") -> None:
        self.brief = brief
        self.continue_text = continue_text
        self.rng = random.Random(_seed(brief, continue_text))
        self.register = _register(brief)
        self.audience = _inline(brief.audience) or "anyone starting out"
        self.topic = _inline(brief.topic)
        self.used: set[str] = set()
        self.avoid = [
            " ".join(words_of(normalise(d))) for d in (brief.persona.dont if brief.persona else ())
        ]
        self.dropped: list[KeyPoint] = []
        self.kept: list[KeyPoint] = []
        self.topic_is_phrase = not re.match(
            r"(how|why|what|when|where|who|which|is|are|can|should|do|does)\b",
            normalise(self.topic),
        )

    # -- public

    def write(self) -> str:
        plans = self._plan()
        blocks = [self._render(plan) for plan in plans]
        text = "\n\n".join(blocks)
        if self.continue_text:
            if not text:
                return ""
            joiner = (
                ""
                if self.continue_text.endswith("\n\n")
                else ("\n" if self.continue_text.endswith("\n") else "\n\n")
            )
            return joiner + text
        return text

    # -- planning

    def _plan(self) -> list[_Plan]:
        brief = self.brief
        sections = list(brief.sections)
        points = list(brief.key_points)
        budget = float(brief.budget)
        if self.continue_text:
            present = [s.title for s in split_sections(self.continue_text) if s.title]
            sections = [s for s in sections if not any(titles_match(s.title, t) for t in present)]
            points = [p for p in points if not _covered(p.text, self.continue_text)]
            budget = max(0.0, budget - count_words(self.continue_text))
            share = sum(s.share for s in sections)
            if not sections or share <= 0:
                return []
            sections = [SectionSpec(s.key, s.title, s.share / share, s.guidance) for s in sections]

        plans = [_Plan(spec) for spec in sections]
        for plan in plans:
            if plan.spec.role == "hook":
                plan.mandatory.append(self._hook_opener())
            elif plan.spec.role == "cta":
                plan.mandatory.append(self._platform_cta())

        while True:
            self._assign(plans, points)
            needed = sum(_wc(s) for plan in plans for s in plan.mandatory) + sum(
                _wc(self._point_sentence(plan, i, p))
                for plan in plans
                for i, p in enumerate(plan.points)
            )
            droppable = [p for p in points if p.priority != "must"]
            if needed <= budget * 1.1 or not droppable:
                break
            lowest = max(droppable, key=lambda p: (_PRIORITY_ORDER[p.priority], p.order))
            points.remove(lowest)
            self.dropped.append(lowest)

        self.kept = points
        for plan in plans:
            plan.mandatory.extend(
                self._point_sentence(plan, i, p) for i, p in enumerate(plan.points)
            )
        self._set_targets(plans, budget)
        return plans

    def _assign(self, plans: list[_Plan], points: list[KeyPoint]) -> None:
        for plan in plans:
            plan.points = []
        body = [plan for plan in plans if plan.spec.role == "body"] or plans
        if not points:
            return
        total = sum(plan.spec.share for plan in body) or 1.0
        quotas = [plan.spec.share / total * len(points) for plan in body]
        counts = [math.floor(q) for q in quotas]
        by_remainder = sorted(range(len(body)), key=lambda i: (-(quotas[i] - counts[i]), i))
        for i in by_remainder[: len(points) - sum(counts)]:
            counts[i] += 1
        queue = iter(points)
        for plan, count in zip(body, counts, strict=True):
            plan.points = [next(queue) for _ in range(count)]

    def _set_targets(self, plans: list[_Plan], budget: float) -> None:
        for plan in plans:
            plan.target = budget * plan.spec.share
        minimum = {id(plan): float(sum(_wc(s) for s in plan.mandatory)) for plan in plans}
        overflow = sum(max(0.0, minimum[id(p)] - p.target) for p in plans)
        if overflow <= 0:
            return
        slack = {id(p): max(0.0, p.target - minimum[id(p)]) for p in plans}
        total_slack = sum(slack.values())
        for plan in plans:
            if minimum[id(plan)] >= plan.target:
                plan.target = minimum[id(plan)]
            elif total_slack > 0:
                cut = overflow * slack[id(plan)] / total_slack
                plan.target = max(minimum[id(plan)], plan.target - cut)

    # -- sentences

    def _pick(self, options: tuple[str, ...]) -> str:
        return options[self.rng.randrange(len(options))]

    def _hook_opener(self) -> str:
        opener = self._pick(_HOOK_OPENERS.get(self.register, _HOOK_OPENERS["neutral"]))
        return self._take(_sentence(opener, topic=self.topic))

    def _platform_cta(self) -> str:
        options = _PLATFORM_CTA.get(self.brief.platform, _PLATFORM_CTA["youtube"])
        return self._take(self._pick(options))

    def _point_sentence(self, plan: _Plan, index: int, point: KeyPoint) -> str:
        family = _SECTION_FAMILY.get(_section_key(plan.spec), "body")
        forms = _POINT_FORMS[family]
        form = forms[index % len(forms)]
        return _sentence(form, n=str(index + 1), point=_inline(point.text))

    def _take(self, sentence: str) -> str:
        self.used.add(sentence)
        return sentence

    def _avoided(self, sentence: str) -> bool:
        """Whether the sentence says something the persona must not say."""
        text = f" {' '.join(words_of(normalise(sentence)))} "
        return any(f" {phrase} " in text for phrase in self.avoid)

    def _fillers(self, plan: _Plan) -> Iterator[str]:
        slots = {"topic": self.topic, "audience": self.audience}
        pools: list[list[str]] = []
        if plan.spec.role == "hook":
            intro: list[str] = []
            if self.brief.persona and self.brief.persona.name:
                intro.append(f"I'm {self.brief.persona.name}.")
            if self.brief.audience:
                intro.append(_sentence(_HOOK_FILLERS[0], **slots))
            if len(self.kept) >= 2:
                intro.append(f"Here are {_number_word(len(self.kept))} things that matter.")
            pools.append(intro)
            pools.append(self._shuffled([_sentence(t, **slots) for t in _HOOK_FILLERS[1:]]))
        elif plan.spec.role == "cta":
            closing: list[str] = []
            if self.kept:
                first = _inline(self.kept[0].text)
                closing.append(_sentence("If you remember one thing, make it this: {p}.", p=first))
            pools.append(closing)
            pools.append(self._shuffled(list(_CTA_FILLERS)))
        else:
            own = _SECTION_FILLERS.get(_section_key(plan.spec), ())
            pools.append(self._shuffled(list(own)))
            if plan.points:
                pools.append(self._shuffled([_sentence(t, **slots) for t in _POINT_ELABORATIONS]))
        cores = [c for c in _CORES if self.topic_is_phrase or "{topic}" not in c]
        openers = list(_OPENERS)
        first_pass = [_sentence(self._pick(tuple(openers)) + core, **slots) for core in cores]
        combos = [
            _sentence(opener + core, **slots)
            for opener in openers
            for core in cores
            if not (opener.startswith("For {audience}") and "{topic}" in core)
        ]
        pools.append(self._shuffled(first_pass))
        pools.append(self._shuffled([c for c in combos if c not in first_pass]))
        for pool in pools:
            yield from pool
        everything = [s for pool in pools for s in pool]
        while everything:
            yield from self._shuffled(everything)

    def _shuffled(self, items: list[str]) -> list[str]:
        copy = list(items)
        self.rng.shuffle(copy)
        return copy

    def _fill(self, plan: _Plan) -> list[str]:
        count = sum(_wc(s) for s in plan.mandatory)
        target = round(plan.target)
        chosen: list[str] = []
        misses = 0
        repeats_ok = False
        for attempt, candidate in enumerate(self._fillers(plan)):
            if target - count <= 1 or misses > 60 or attempt > 5000:
                break
            if self._avoided(candidate):
                continue
            if candidate in self.used and not repeats_ok:
                misses += 1
                if misses > 60:
                    repeats_ok, misses = True, 0
                continue
            words = _wc(candidate)
            if count + words <= target:
                chosen.append(self._take(candidate))
                count += words
                misses = 0
            else:
                misses += 1
        for closer in self._shuffled(list(_CLOSERS)):
            fits = count + _wc(closer) <= target
            if target - count >= 2 and fits and closer not in self.used:
                chosen.append(self._take(closer))
                count += _wc(closer)
        return chosen

    def _render(self, plan: _Plan) -> str:
        fillers = self._fill(plan)
        paragraphs: list[list[str]]
        if plan.spec.role == "body" and plan.points:
            head = plan.mandatory[: len(plan.mandatory) - len(plan.points)]
            point_lines = plan.mandatory[len(head) :]
            paragraphs = [[line] for line in point_lines]
            if head:
                paragraphs[0] = head + paragraphs[0]
            for i, filler in enumerate(fillers):
                paragraphs[i % len(paragraphs)].append(filler)
        else:
            sentences = plan.mandatory + fillers
            paragraphs = [sentences[i : i + 4] for i in range(0, len(sentences), 4)] or [[]]
        body = "\n\n".join(" ".join(p) for p in paragraphs if p)
        return f"## {plan.spec.title}\n\n{body}".rstrip()


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _number_word(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def _wc(sentence: str) -> int:
    return count_words(sentence)


def _covered(point: str, text: str) -> bool:
    wanted = content_stems(point)
    have = content_stems(text)
    return bool(wanted) and all(any(stems_match(w, h) for h in have) for w in wanted)


def write_script(brief: ScriptBrief, continue_text: str = "") -> str:
    return ScriptWriter(brief, continue_text).write()


# ---------------------------------------------------------------------------------------------
# The writer RuleBased calls for purpose "script"


def _continue_text(request: CompletionRequest) -> str:
    """The script written so far: ``metadata["continue_text"]``, or a trailing assistant turn."""
    explicit = request.metadata.get("continue_text")
    if isinstance(explicit, str) and explicit:
        return explicit
    if request.messages and request.messages[-1].role == "assistant":
        return request.messages[-1].content
    return ""


def script_writer(request: CompletionRequest) -> str:
    """The offline answer to a script request: the script of its brief, or the rest of it."""
    return write_script(ScriptBrief.from_request(request), _continue_text(request))
