"""What each platform a roundtable can plan for expects of a video.

``min_seconds`` and ``max_seconds`` are the platform's own limits for the format (floored at the
studio's minimum); the lengths a roundtable accepts are ``MIN_DURATION_SECONDS`` to
``MAX_DURATION_SECONDS`` whatever the platform, and ``duration_range`` gives the two together.
``hook_seconds`` is the window in which a viewer decides whether to stay.

Sources, as of 2025: TikTok records and posts up to 10 minutes in the app (short still wins);
Instagram Reels run up to 3 minutes since January 2025 (90 seconds before); YouTube Shorts run up
to 3 minutes since 15 October 2024 (60 seconds before); YouTube long-form is 16:9, up to 15 minutes
for unverified accounts and 12 hours for verified ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

MIN_DURATION_SECONDS = 5
MAX_DURATION_SECONDS = 600
"""The lengths a roundtable accepts (the API's ``duration_seconds`` range), on every platform."""


@dataclass(frozen=True, slots=True)
class PlatformNorms:
    slug: str
    label: str
    aspect: Literal["9:16", "16:9"]
    hook_seconds: int
    min_seconds: int
    max_seconds: int
    default_seconds: int
    captions: str
    notes: str

    @property
    def vertical(self) -> bool:
        return self.aspect == "9:16"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TIKTOK = PlatformNorms(
    slug="tiktok",
    label="TikTok",
    aspect="9:16",
    hook_seconds=2,
    min_seconds=MIN_DURATION_SECONDS,
    max_seconds=600,
    default_seconds=30,
    captions=(
        "Most people start with the sound on, but burn in short captions anyway and keep them "
        "clear of the right-hand buttons and the bottom fifth, where the caption and sound bar sit."
    ),
    notes=(
        "Posts can run to 10 minutes, but 15 to 45 seconds is where completion stays high; the "
        "first frame must already move and say what this is. Native, lo-fi energy beats polish, "
        "and a last frame that flows back into the first earns rewatches."
    ),
)

INSTAGRAM_REELS = PlatformNorms(
    slug="instagram_reels",
    label="Instagram Reels",
    aspect="9:16",
    hook_seconds=3,
    min_seconds=MIN_DURATION_SECONDS,
    max_seconds=180,
    default_seconds=30,
    captions=(
        "Many Reels are watched muted: burn in captions and keep text inside the centre, clear of "
        "the top 14 % and the bottom 35 % of the frame, which the interface covers."
    ),
    notes=(
        "Reels run up to 3 minutes (90 seconds until 2025), yet 15 to 30 seconds performs best. "
        "The grid crops the cover to 3:4, so keep the subject central; polished, aesthetic visuals "
        "and saves and shares matter more than comments."
    ),
)

YOUTUBE_SHORTS = PlatformNorms(
    slug="youtube_shorts",
    label="YouTube Shorts",
    aspect="9:16",
    hook_seconds=2,
    min_seconds=MIN_DURATION_SECONDS,
    max_seconds=180,
    default_seconds=45,
    captions=(
        "Burn in captions for muted feeds and keep them above the bottom quarter, where the title, "
        "channel name and subscribe button sit, and away from the right-hand rail."
    ),
    notes=(
        "Shorts run up to 3 minutes since October 2024 (60 seconds before), but the feed rewards "
        "20 to 45 seconds with a seamless loop. There is no skippable intro: the payoff has to be "
        "promised in the first two seconds."
    ),
)

YOUTUBE = PlatformNorms(
    slug="youtube",
    label="YouTube",
    aspect="16:9",
    hook_seconds=15,
    min_seconds=MIN_DURATION_SECONDS,
    max_seconds=43_200,
    default_seconds=300,
    captions=(
        "Upload a proper subtitle file (SRT or VTT) rather than burning text in; keep on-screen "
        "titles in the title-safe area and out of the bottom bar where the player controls appear."
    ),
    notes=(
        "Long-form 16:9: up to 15 minutes for unverified channels and 12 hours for verified ones. "
        "The first 15 to 30 seconds decide retention, so state the promise at once; a change of "
        "picture or idea every 20 to 40 seconds, chapters and a strong thumbnail keep people."
    ),
)

NORMS: dict[str, PlatformNorms] = {
    norms.slug: norms for norms in (TIKTOK, INSTAGRAM_REELS, YOUTUBE_SHORTS, YOUTUBE)
}
PLATFORM_CHOICES: list[tuple[str, str]] = [(norms.slug, norms.label) for norms in NORMS.values()]


def spell_duration(seconds: int) -> str:
    """A length as people say it: "45 seconds", "3 minutes", "12 hours", "1 minute 30 seconds"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value} {unit}{'s' if value != 1 else ''}"
        for value, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second"))
        if value
    ]
    if not parts:
        return "0 seconds"
    if seconds < 120 and hours == 0:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return " ".join(parts)


def duration_range(slug: str) -> tuple[int, int]:
    """The lengths a roundtable for this platform may ask for: the platform's limits within the
    studio's range. Raises ``KeyError`` for an unknown platform."""
    norms = NORMS[slug]
    return (
        max(norms.min_seconds, MIN_DURATION_SECONDS),
        min(norms.max_seconds, MAX_DURATION_SECONDS),
    )


def default_duration(slug: str) -> int:
    """The default length of a roundtable for this platform. Raises ``KeyError`` when unknown."""
    low, high = duration_range(slug)
    return min(max(NORMS[slug].default_seconds, low), high)
