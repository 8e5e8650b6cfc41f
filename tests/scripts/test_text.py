"""Validation, timing, exports and diff: pure functions over text."""

from __future__ import annotations

from generation.scripts.diff import diff_versions
from generation.scripts.guidance import duplicates
from generation.scripts.textutils import count_words, split_sections
from generation.scripts.timing import timing_table
from generation.scripts.validation import key_point_coverage, validate_script

BRIEF = {
    "duration_seconds": 30,
    "words_per_minute": 150,
    "word_budget": 75,
    "key_points": [
        {"text": "Use a tripod for stable shots", "priority": "must"},
        {"text": "Shoot in the golden hour", "priority": "nice"},
    ],
    "template": {
        "name": "Mini",
        "sections": [
            {"key": "hook", "title": "Hook", "share": 0.2},
            {"key": "steps", "title": "Step by step", "share": 0.6},
            {"key": "cta", "title": "Call to action", "share": 0.2},
        ],
    },
}


def test_key_point_matching_is_by_stems_not_exact_strings() -> None:
    text = "Using tripods keeps every shot stable, so never skip them."
    assert key_point_coverage("Use a tripod for stable shots", text)[0]
    assert not key_point_coverage("Use a tripod for stable shots", "Shots look great.")[0]
    far_apart = "Tripods are heavy. " + "Filler words go here now. " * 10 + "Stable shots matter."
    assert not key_point_coverage("Use a tripod for stable shots", far_apart)[0]


def test_validation_reports_each_check() -> None:
    words = " ".join(["word"] * 60)
    text = (
        "## Hook\n\nStart strong.\n\n## Step by step\n\nAlways use a tripod for stable shots. "
        f"{words}\n\n## Call to action\n\nFollow for more."
    )
    report = validate_script(text, BRIEF)
    assert report["passed"], report["problems"]
    assert report["word_count"] == count_words(text) == 2 + 7 + 60 + 3
    kinds = [c["kind"] for c in report["checks"]]
    assert kinds.count("key_point") == 2 and kinds.count("section") == 3 and "length" in kinds
    nice = next(c for c in report["checks"] if c["kind"] == "key_point" and not c["required"])
    assert nice["passed"] is False


def test_validation_names_what_falls_short() -> None:
    report = validate_script("## Hook\n\nToo short and no tripod.", BRIEF)
    assert not report["passed"]
    problems = " ".join(report["problems"])
    assert "Use a tripod for stable shots" in problems
    assert "too short" in problems
    assert "Step by step" in problems and "Call to action" in problems


def test_bold_headings_count_as_sections_and_not_as_words() -> None:
    text = "**Hook**\nHello there.\n**Call to action:**\nBye now."
    assert [s.title for s in split_sections(text)] == ["Hook", "Call to action"]
    assert count_words(text) == 4


def test_timing_table_starts_and_lengths() -> None:
    text = "## Hook\n\n" + "a " * 15 + "\n\n## Body\n\n" + "b " * 150
    rows = timing_table(
        text, 150, [{"title": "Hook", "seconds": 6}, {"title": "Body", "seconds": 54}]
    )
    assert [(r.title, r.words) for r in rows] == [("Hook", 15), ("Body", 150)]
    assert rows[0].start_label == "0:00" and rows[0].length_label == "0:06"
    assert rows[1].start_label == "0:06" and rows[1].length_label == "1:00"
    assert rows[1].planned_label == "0:54"


def test_diff_rows() -> None:
    diff = diff_versions("one\ntwo\nthree", "one\n2\nthree\nfour")
    assert [r.kind for r in diff.rows] == ["same", "changed", "same", "added"]
    assert (diff.added, diff.removed, diff.changed) == (1, 0, 1)
    assert diff_versions("a", "a").identical


def test_diff_rows_inline_mark_only_the_words_that_changed() -> None:
    diff = diff_versions(
        "Heat the water to 94 degrees.\nGone line\nSame", "Heat the water to 96 degrees.\nSame\nNew"
    )
    assert [(r.kind, r.inline) for r in diff.rows] == [
        (
            "changed",
            [
                ("same", "Heat the water to "),
                ("deleted", "94 "),
                ("inserted", "96 "),
                ("same", "degrees."),
            ],
        ),
        ("removed", [("deleted", "Gone line")]),
        ("same", [("same", "Same")]),
        ("added", [("inserted", "New")]),
    ]


def test_duplicate_must_points() -> None:
    points = [
        {"text": "Use a tripod", "priority": "must"},
        {"text": "Always use a tripod for stability", "priority": "should"},
        {"text": "Light from the side", "priority": "nice"},
        {"text": "Side light looks good", "priority": "nice"},
    ]
    assert duplicates(points) == [(1, 2)]
