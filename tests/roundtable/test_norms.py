"""The platforms a roundtable plans for, and the lengths it accepts."""

from __future__ import annotations

import pytest

from roundtable.norms import (
    MAX_DURATION_SECONDS,
    MIN_DURATION_SECONDS,
    NORMS,
    PLATFORM_CHOICES,
    default_duration,
    duration_range,
    spell_duration,
)


def test_the_four_platforms_in_order() -> None:
    assert list(NORMS) == ["tiktok", "instagram_reels", "youtube_shorts", "youtube"]
    assert PLATFORM_CHOICES == [
        ("tiktok", "TikTok"),
        ("instagram_reels", "Instagram Reels"),
        ("youtube_shorts", "YouTube Shorts"),
        ("youtube", "YouTube"),
    ]


def test_the_norms_are_the_platforms_own() -> None:
    assert NORMS["tiktok"].max_seconds == 600
    assert NORMS["instagram_reels"].max_seconds == 180
    assert NORMS["youtube_shorts"].max_seconds == 180
    assert NORMS["youtube"].aspect == "16:9"
    for slug in ("tiktok", "instagram_reels", "youtube_shorts"):
        assert NORMS[slug].aspect == "9:16"
        assert NORMS[slug].vertical
        assert NORMS[slug].hook_seconds <= 3
    assert NORMS["youtube"].hook_seconds > NORMS["tiktok"].hook_seconds


@pytest.mark.parametrize("slug", list(NORMS))
def test_each_platform_is_whole(slug: str) -> None:
    norms = NORMS[slug]
    assert norms.slug == slug
    assert norms.min_seconds <= norms.default_seconds <= norms.max_seconds
    assert norms.captions.endswith(".") and norms.notes.endswith(".")
    assert norms.as_dict()["slug"] == slug
    low, high = duration_range(slug)
    assert MIN_DURATION_SECONDS <= low < high <= MAX_DURATION_SECONDS
    assert low <= default_duration(slug) <= high
    with pytest.raises(AttributeError):
        norms.slug = "other"  # type: ignore[misc]


def test_the_studio_range_caps_long_form() -> None:
    assert duration_range("youtube") == (5, 600)
    assert duration_range("instagram_reels") == (5, 180)
    assert default_duration("youtube") == 300
    with pytest.raises(KeyError):
        duration_range("vine")


@pytest.mark.parametrize(
    ("seconds", "spelled"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (90, "90 seconds"),
        (180, "3 minutes"),
        (150, "2 minutes 30 seconds"),
        (600, "10 minutes"),
        (3600, "1 hour"),
        (43_200, "12 hours"),
    ],
)
def test_lengths_are_spelled_as_people_say_them(seconds: int, spelled: str) -> None:
    assert spell_duration(seconds) == spelled
