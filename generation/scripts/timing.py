"""The timing table of a script: each section's start and length when read at a given pace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generation.scripts.textutils import count_words, seconds_for, split_sections, titles_match


@dataclass(frozen=True, slots=True)
class TimingRow:
    title: str
    words: int
    start_seconds: float
    seconds: float
    planned_seconds: float | None
    body: str

    @property
    def end_seconds(self) -> float:
        return self.start_seconds + self.seconds

    @property
    def start_label(self) -> str:
        return clock(self.start_seconds)

    @property
    def length_label(self) -> str:
        return clock(self.seconds)

    @property
    def planned_label(self) -> str:
        return clock(self.planned_seconds) if self.planned_seconds is not None else ""


def clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def timing_table(
    text: str, words_per_minute: int, planned: list[dict[str, Any]] | None = None
) -> list[TimingRow]:
    """One row per section of the text (headings as found), with the planned length of the
    template section it matches, if any."""
    rows: list[TimingRow] = []
    start = 0.0
    for section in split_sections(text):
        count = count_words(section.body)
        seconds = seconds_for(count, words_per_minute)
        plan = next(
            (p for p in planned or [] if section.title and titles_match(p["title"], section.title)),
            None,
        )
        rows.append(
            TimingRow(
                title=section.title or "(untitled)",
                words=count,
                start_seconds=start,
                seconds=seconds,
                planned_seconds=float(plan["seconds"]) if plan else None,
                body=section.body,
            )
        )
        start += seconds
    return rows


def total_seconds(rows: list[TimingRow]) -> float:
    return sum(row.seconds for row in rows)
