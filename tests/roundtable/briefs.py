"""Briefs for the roundtable tests: one with a whole world (series, two characters, two locations)
and one without."""

from __future__ import annotations

from typing import Any

from roundtable.prompts import brief_build

BRIEF_TEXT = (
    "A launch teaser for the Volta solar e-bike: a commuter beats city traffic at dawn. "
    "Show that charging is free and the ride is silent."
)
SERIES = {"name": "Morning Riders", "description": "Short films about people who commute by bike."}
CHARACTERS = [
    {
        "name": "Maya",
        "description": "A nurse finishing a night shift",
        "look": "teal scrubs, yellow helmet",
        "voice": "dry, warm",
    },
    {
        "name": "Theo",
        "description": "her neighbour, a barista",
        "look": "denim apron",
        "voice": "fast, cheerful",
    },
]
LOCATIONS = [
    {
        "name": "Harbour Bridge",
        "description": "A steel bridge over the river",
        "mood": "calm, misty",
    },
    {"name": "Market Street", "description": "Gridlocked traffic at rush hour", "mood": "tense"},
]
WORLD_NAMES = ("Morning Riders", "Maya", "Theo", "Harbour Bridge", "Market Street")


def world_brief(platform: str = "tiktok", seconds: int = 30) -> dict[str, Any]:
    return brief_build(
        brief=BRIEF_TEXT,
        platform=platform,
        duration_seconds=seconds,
        series=SERIES,
        characters=CHARACTERS,
        locations=LOCATIONS,
    )


def bare_brief(platform: str = "youtube", seconds: int = 300) -> dict[str, Any]:
    return brief_build(
        brief="How to brew pour-over coffee at home without any special kit.",
        platform=platform,
        duration_seconds=seconds,
    )
