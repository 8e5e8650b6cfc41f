"""Checks a finished script against its brief.

Required checks: every must key point is covered, the spoken length is within 15% of the word
budget, and every section of the template has its heading. Should and nice key points are
reported but not required. A key point counts as covered when most of its meaningful words (as
light stems, so "using" matches "use") appear close together in the spoken text: exact strings
are not needed.
"""

from __future__ import annotations

import math
from typing import Any

from generation.scripts.constants import LENGTH_TOLERANCE, PRIORITY_LABELS, Priority
from generation.scripts.textutils import (
    STOPWORDS,
    content_stems,
    count_words,
    heading_title,
    normalise,
    seconds_for,
    spoken_lines,
    stem,
    stems_match,
    titles_match,
    word_budget,
    words,
)


def _script_stems(text: str) -> list[str]:
    return [
        stem(word)
        for line in spoken_lines(text)
        for word in words(line)
        if normalise(word) not in STOPWORDS
    ]


def key_point_coverage(point: str, text: str) -> tuple[bool, int, int]:
    """Whether the point is covered, how many of its meaningful words were found together, and
    how many it has."""
    wanted = content_stems(point) or [stem(w) for w in words(point)]
    if not wanted:
        return True, 0, 0
    need = len(wanted) if len(wanted) <= 2 else math.ceil(0.75 * len(wanted))
    script = _script_stems(text)
    window = max(12, 3 * len(wanted))
    best = 0
    hits = [{i for i, token in enumerate(wanted) if stems_match(token, have)} for have in script]
    for start in range(len(script)):
        if not hits[start]:
            continue
        found: set[int] = set()
        for offset in range(start, min(len(script), start + window)):
            found |= hits[offset]
        best = max(best, len(found))
        if best == len(wanted):
            break
    return best >= need, best, len(wanted)


def length_bounds(budget: int) -> tuple[int, int]:
    return math.ceil(budget * (1 - LENGTH_TOLERANCE)), math.floor(budget * (1 + LENGTH_TOLERANCE))


def validate_script(text: str, brief: dict[str, Any]) -> dict[str, Any]:
    """The validation report: what was checked, what passed, and the problems to fix."""
    wpm = int(brief.get("words_per_minute") or 150)
    budget = int(
        brief.get("word_budget") or word_budget(int(brief.get("duration_seconds") or 60), wpm)
    )
    checks: list[dict[str, Any]] = []

    for point in brief.get("key_points") or []:
        priority = str(point.get("priority") or Priority.MUST)
        point_text = str(point.get("text") or "")
        covered, found, total = key_point_coverage(point_text, text)
        kind_label = PRIORITY_LABELS.get(priority, priority)
        checks.append(
            {
                "kind": "key_point",
                "label": f"{kind_label} key point: {point_text}",
                "text": point_text,
                "priority": priority,
                "required": priority == Priority.MUST,
                "passed": covered,
                "detail": f"{found} of {total} of its key words found together",
            }
        )

    count = count_words(text)
    low, high = length_bounds(budget)
    checks.append(
        {
            "kind": "length",
            "label": f"Length within {round(LENGTH_TOLERANCE * 100)}% of the word budget",
            "required": True,
            "passed": low <= count <= high,
            "detail": f"{count} words for a budget of {budget} ({low} to {high})",
        }
    )

    headings = [t for t in (heading_title(line) for line in text.splitlines()) if t]
    template = brief.get("template") or {}
    for section in template.get("sections") or []:
        title = str(section.get("title") or "")
        present = any(titles_match(title, found) for found in headings)
        checks.append(
            {
                "kind": "section",
                "label": f"Section present: {title}",
                "required": True,
                "passed": present,
                "detail": "heading found" if present else "no heading with this title",
            }
        )

    problems: list[str] = []
    missing = [c for c in checks if c["kind"] == "key_point" and c["required"] and not c["passed"]]
    if missing:
        texts = "; ".join(c["text"] for c in missing)
        problems.append(f"Must key points not covered: {texts}")
    if not checks_passed(checks, "length"):
        direction = "too short" if count < low else "too long"
        problems.append(
            f"Length {direction}: {count} words, the budget is {budget} ({low} to {high})"
        )
    absent = [
        c["label"].split(": ", 1)[1] for c in checks if c["kind"] == "section" and not c["passed"]
    ]
    if absent:
        problems.append(f"Sections missing: {', '.join(absent)}")

    return {
        "passed": all(c["passed"] for c in checks if c["required"]),
        "word_count": count,
        "word_budget": budget,
        "min_words": low,
        "max_words": high,
        "estimated_seconds": round(seconds_for(count, wpm)),
        "checks": checks,
        "problems": problems,
    }


def checks_passed(checks: list[dict[str, Any]], kind: str) -> bool:
    return all(c["passed"] for c in checks if c["kind"] == kind)
