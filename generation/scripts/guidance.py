"""As-you-type guidance on a script brief, before anything is started or paid for."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aura_site.money import format_estimate, format_usd
from generation.providers.base import ProviderInfo
from generation.scripts.constants import (
    DEFAULT_DELIVERY,
    DELIVERY_BY_SLUG,
    LENGTH_TOLERANCE,
    MAX_DURATION_SECONDS,
    MIN_DURATION_SECONDS,
    PLATFORM_BY_SLUG,
    TOPIC_MAX_CHARS,
    TOPIC_MIN_CHARS,
    Priority,
)
from generation.scripts.textutils import content_stems, stem, words
from generation.scripts.timing import clock

VAGUE_WORDS = (
    "video stuff things tips content topic something anything misc general update vlog post "
    "ideas random intro overview"
)
VAGUE_STEMS = frozenset(stem(word) for word in VAGUE_WORDS.split(" "))
LONG_TOPIC_WORDS = 30
WORDS_PER_POINT_EXPLANATION = 12
HOOK_AND_CTA_WORDS = 20
TOKENS_PER_WORD = Decimal(4) / Decimal(3)
FORM_CHECKED = frozenset({"topic", "duration_seconds", "provider"})
"""Fields the form refuses on its own: their notes cannot be started past."""


@dataclass(frozen=True, slots=True)
class Note:
    level: str  # "error", "warn" or "info"
    field: str
    message: str
    item: int | None = None
    """The 1-based key point a note is about, when it is about one."""


@dataclass(slots=True)
class Guidance:
    notes: list[Note] = field(default_factory=list)
    word_budget: int = 0
    duration_label: str = ""
    words_per_minute: int = 0
    expected_output_tokens: int = 0
    expected_input_tokens: int = 0
    expected_cost: Decimal | None = None
    cost_ceiling: Decimal | None = None
    """The most the run may spend: each provider of the chain at its maximum output."""
    provider_label: str = ""
    model: str = ""
    template_output: bool = False
    spent_budgets: list[str] = field(default_factory=list)
    """A sentence per spending budget already spent that the run's chain runs into."""

    @property
    def cost_label(self) -> str:
        if self.expected_cost is None:
            return "—"
        return format_estimate(self.expected_cost)

    @property
    def ceiling_label(self) -> str:
        if self.cost_ceiling is None or not self.expected_cost:
            return ""
        return f"at most {format_usd(self.cost_ceiling)}"

    @property
    def ok(self) -> bool:
        return not any(note.level == "error" for note in self.notes)

    @property
    def blocking(self) -> list[Note]:
        """The notes marked "fix" that Start waits for unless the user starts anyway (what the
        form itself refuses is not among them: no "start anyway" gets past that)."""
        return [n for n in self.notes if n.level == "error" and n.field not in FORM_CHECKED]

    def add(self, level: str, field_name: str, message: str, item: int | None = None) -> None:
        self.notes.append(Note(level, field_name, message, item))


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def duplicates(points: list[dict[str, str]]) -> list[tuple[int, int]]:
    """Pairs (earlier, later), 1-based, of key points that say the same thing, where at least one
    of the two is a must."""
    stems = [set(content_stems(p["text"])) for p in points]
    found = []
    for j in range(len(points)):
        for i in range(j):
            if Priority.MUST not in (points[i]["priority"], points[j]["priority"]):
                continue
            a, b = stems[i], stems[j]
            if not a or not b:
                continue
            overlap = len(a & b) / min(len(a), len(b))
            if overlap >= 0.8:
                found.append((i + 1, j + 1))
                break
    return found


def script_guidance(
    data: dict[str, Any],
    key_points: list[dict[str, str]],
    provider: ProviderInfo | None,
    *,
    expected_cost: Decimal | None = None,
    prompt_tokens: int = 0,
) -> Guidance:
    guide = Guidance()
    topic = " ".join(str(data.get("topic") or "").split())
    duration = _int(data.get("duration_seconds"), 0)
    style = (
        DELIVERY_BY_SLUG.get(str(data.get("delivery") or "")) or DELIVERY_BY_SLUG[DEFAULT_DELIVERY]
    )
    platform = PLATFORM_BY_SLUG.get(str(data.get("platform") or ""))

    if not topic:
        guide.add("info", "topic", "Start with the topic: what the video is about.")
    elif len(topic) < TOPIC_MIN_CHARS:
        guide.add("error", "topic", f"The topic needs at least {TOPIC_MIN_CHARS} characters.")
    elif len(topic) > TOPIC_MAX_CHARS:
        guide.add("error", "topic", f"The topic is over {TOPIC_MAX_CHARS} characters.")
    else:
        meaningful = [w for w in content_stems(topic) if w not in VAGUE_STEMS]
        if len(meaningful) < 2:
            guide.add(
                "warn",
                "topic",
                "The topic is too vague: say what the video is about and what the viewer gets "
                "from it (e.g. 'How to brew pour-over coffee at home').",
            )
        elif len(words(topic)) > LONG_TOPIC_WORDS:
            guide.add(
                "warn",
                "topic",
                f"The topic is long ({len(words(topic))} words): keep it to one line and move "
                "the details into key points.",
            )

    if not MIN_DURATION_SECONDS <= duration <= MAX_DURATION_SECONDS:
        guide.add(
            "error",
            "duration_seconds",
            f"The duration must be {MIN_DURATION_SECONDS} to {MAX_DURATION_SECONDS} seconds.",
        )
        return guide
    if platform and not platform.min_seconds <= duration <= platform.max_seconds:
        guide.add(
            "warn",
            "duration_seconds",
            f"{platform.label} videos usually run {platform.min_seconds} to "
            f"{platform.max_seconds} seconds.",
        )

    budget = max(1, round(duration * style.words_per_minute / 60))
    guide.word_budget = budget
    guide.words_per_minute = style.words_per_minute
    guide.duration_label = clock(duration)

    def need(points: list[dict[str, str]]) -> int:
        return sum(len(words(p["text"])) + WORDS_PER_POINT_EXPLANATION for p in points)

    ceiling = budget * (1 + LENGTH_TOLERANCE)
    musts = [p for p in key_points if p["priority"] == Priority.MUST]
    must_words = need(musts) + HOOK_AND_CTA_WORDS
    all_words = need(key_points) + HOOK_AND_CTA_WORDS
    if musts and must_words > ceiling:
        seconds = math.ceil(must_words * 60 / style.words_per_minute / 5) * 5
        guide.add(
            "error",
            "key_points",
            f"The must key points don't fit the duration: they need about {must_words} words "
            f"and {duration} s at {style.words_per_minute} wpm holds about {budget}. Lengthen "
            f"the video to about {seconds} s or make some points should or nice.",
        )
    elif key_points and all_words > ceiling:
        guide.add(
            "warn",
            "key_points",
            f"Not every key point fits: they need about {all_words} words and the budget is "
            f"{budget}. Nice points, then should points, may be left out.",
        )
    for first, second in duplicates(key_points):
        guide.add(
            "error",
            "key_points",
            f"Key point {second} (“{key_points[second - 1]['text']}”) duplicates key point "
            f"{first} (“{key_points[first - 1]['text']}”): merge them or drop one.",
            second,
        )

    guide.expected_output_tokens = math.ceil(Decimal(budget) * TOKENS_PER_WORD) + 40
    guide.expected_input_tokens = prompt_tokens
    if provider is not None:
        guide.provider_label = provider.label
        guide.model = str(data.get("model") or "") or (
            provider.models[0] if provider.models else ""
        )
        guide.template_output = provider.name == "rulebased"
        guide.expected_cost = expected_cost
        if not provider.configured:
            guide.add(
                "error",
                "provider",
                f"{provider.label} is not set up, so it cannot be chosen: ask staff to add its "
                "key, or choose Auto or another provider.",
            )
        elif not provider.healthy:
            guide.add(
                "warn",
                "provider",
                f"{provider.label} does not answer right now; the run will fall back if it "
                "still fails.",
            )
    return guide
