"""Delivery styles, platforms and the limits of a script brief."""

from __future__ import annotations

from dataclasses import dataclass

MIN_DURATION_SECONDS = 10
MAX_DURATION_SECONDS = 1800
TOPIC_MIN_CHARS = 3
TOPIC_MAX_CHARS = 500
LENGTH_TOLERANCE = 0.15
MAX_REVISIONS = 2
SCRIPT_KIND = "script"
"""The run kind of a script draft."""
MAX_KEY_POINTS = 20
KEY_POINT_MAX_CHARS = 300
REQUEST_PURPOSE = "script"
"""``metadata["purpose"]`` of a script request; RuleBased answers it with the script writer."""


@dataclass(frozen=True, slots=True)
class DeliveryStyle:
    slug: str
    label: str
    words_per_minute: int


DELIVERY_STYLES: tuple[DeliveryStyle, ...] = (
    DeliveryStyle("calm", "Calm", 130),
    DeliveryStyle("conversational", "Conversational", 150),
    DeliveryStyle("energetic", "Energetic", 170),
    DeliveryStyle("fast", "Fast-paced", 190),
)
DELIVERY_BY_SLUG = {style.slug: style for style in DELIVERY_STYLES}
DEFAULT_DELIVERY = "conversational"


@dataclass(frozen=True, slots=True)
class Platform:
    slug: str
    label: str
    min_seconds: int
    max_seconds: int
    default_seconds: int


PLATFORMS: tuple[Platform, ...] = (
    Platform("youtube", "YouTube", 30, 1800, 300),
    Platform("youtube_shorts", "YouTube Shorts", 10, 180, 45),
    Platform("tiktok", "TikTok", 10, 600, 45),
    Platform("instagram", "Instagram Reels", 10, 180, 30),
    Platform("linkedin", "LinkedIn", 10, 600, 90),
    Platform("facebook", "Facebook", 10, 1800, 120),
    Platform("x", "X (Twitter)", 10, 140, 45),
    Platform("podcast", "Podcast / audio", 60, 1800, 600),
)
PLATFORM_BY_SLUG = {platform.slug: platform for platform in PLATFORMS}
DEFAULT_PLATFORM = "youtube"


class Priority:
    MUST = "must"
    SHOULD = "should"
    NICE = "nice"


PRIORITIES = (Priority.MUST, Priority.SHOULD, Priority.NICE)
PRIORITY_LABELS = {Priority.MUST: "Must", Priority.SHOULD: "Should", Priority.NICE: "Nice to have"}
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}

TONE_SUGGESTIONS = (
    "friendly",
    "professional",
    "energetic",
    "calm",
    "humorous",
    "inspiring",
    "serious",
)
