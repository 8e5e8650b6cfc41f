"""Reading a shot list as a model writes it: tables, numbered lists, messy and unreadable text."""

from __future__ import annotations

import random

import pytest

from roundtable.shots import (
    SHOT_COLUMNS,
    SHOT_FIELDS,
    UNREADABLE_NOTE,
    Shot,
    ShotList,
    duration_tolerance,
    format_seconds,
    parse_duration,
    parse_shots,
    suggested_shot_count,
)


def total(result: ShotList) -> float:
    return round(sum(shot.duration_seconds or 0 for shot in result.shots), 6)


def test_the_api_keys_of_a_shot() -> None:
    shot = Shot(number=1, description="The bay at dawn")
    assert list(shot.as_dict()) == [
        "number",
        "shot_type",
        "description",
        "duration_seconds",
        "camera",
        "lens",
        "lighting",
        "color",
        "on_screen_text",
    ]
    assert shot.as_dict()["lens"] is None
    assert list(SHOT_FIELDS) == list(shot.as_dict())
    assert len(SHOT_COLUMNS) == len(SHOT_FIELDS)


def test_a_well_formed_table() -> None:
    text = (
        "| # | Shot type | Description | Duration (s) | Camera | Lens | Lighting | Color | "
        "On-screen text |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        "| 1 | ECU | Dew on the handlebar | 2 | Static | 100mm macro | Dawn backlight | Cool teal "
        '| "Beat the traffic" |\n'
        "| 2 | Wide | The commuter rolls out | 4 | Slow push-in | 24mm | Golden hour | Warm amber "
        "| — |\n"
        "| 3 | Medium | She passes the queue of cars | 4 | Tracking | 35mm | Natural | Warm "
        "| n/a |\n"
    )
    result = parse_shots(text, 10)
    assert result.parsed and not result.scaled and result.note == ""
    assert [shot.number for shot in result.shots] == [1, 2, 3]
    first = result.shots[0].as_dict()
    assert first == {
        "number": 1,
        "shot_type": "ECU",
        "description": "Dew on the handlebar",
        "duration_seconds": 2.0,
        "camera": "Static",
        "lens": "100mm macro",
        "lighting": "Dawn backlight",
        "color": "Cool teal",
        "on_screen_text": "Beat the traffic",
    }
    assert result.shots[1].on_screen_text is None
    assert result.shots[2].on_screen_text is None
    assert total(result) == 10


def test_a_table_with_odd_headers_in_another_order_and_no_outer_pipes() -> None:
    text = (
        "Shot | Type | Visual | Time | Movement | Colour | Overlay\n"
        ":-- | --- | --- | ---: | --- | --- | ---\n"
        "1 | CU | Hands on the bars | 0:00-0:03 | handheld | teal | Day 1\n"
        "2 | WS | The bridge | 0:03-0:07 | drone | gold |\n"
        "3 | MS | Arrival at the office | 0:07-0:10 | locked off | gold | Made it\n"
    )
    result = parse_shots(text, 10)
    assert result.parsed and not result.scaled
    assert [shot.number for shot in result.shots] == [1, 2, 3]
    assert [shot.shot_type for shot in result.shots] == ["CU", "WS", "MS"]
    assert [shot.duration_seconds for shot in result.shots] == [3.0, 4.0, 3.0]
    assert result.shots[1].camera == "drone"
    assert result.shots[0].color == "teal"
    assert result.shots[0].on_screen_text == "Day 1"
    assert result.shots[1].on_screen_text is None
    assert result.shots[0].lens is None and result.shots[0].lighting is None


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Dur", "duration_seconds"),
        ("Length", "duration_seconds"),
        ("Camera move", "camera"),
        ("Camera movement", "camera"),
        ("Grade", "color"),
        ("Color notes", "color"),
        ("Text on screen", "on_screen_text"),
        ("Text overlay", "on_screen_text"),
        ("Focal length", "lens"),
        ("Light", "lighting"),
    ],
)
def test_header_synonyms(header: str, field: str) -> None:
    values = {"duration_seconds": "6", "lens": "35mm"}
    value = values.get(field, "slow push-in")
    text = f"| No. | Shot | Description | {header} |\n| 1 | Wide | The harbour | {value} |\n"
    shot = parse_shots(text, 6).shots[0]
    assert shot.number == 1 and shot.shot_type == "Wide" and shot.description == "The harbour"
    expected: object = 6.0 if field == "duration_seconds" else value
    assert getattr(shot, field) == expected


def test_a_fenced_table_between_prose_is_scaled_and_says_so() -> None:
    text = (
        "Here is the shot list you asked for:\n\n"
        "```markdown\n"
        "| # | Shot | Description | Dur |\n"
        "|---|------|-------------|-----|\n"
        "| 1 | Wide | The field at first light | 10s |\n"
        "| 2 | Close-up | A flower opens | 10s |\n"
        "| 3 | Wide | Sunset over the ridge | 22s |\n"
        "| | **Total** | | **42s** |\n"
        "```\n\n"
        "Let me know if you want a version with more close-ups."
    )
    result = parse_shots(text, 30)
    assert result.parsed and result.scaled
    assert result.note == "The model's durations added up to 42 s; they were scaled to 30 s."
    assert len(result.shots) == 3
    assert [shot.duration_seconds for shot in result.shots] == [7.1, 7.1, 15.8]
    assert total(result) == 30


def test_the_longest_table_is_the_shot_list() -> None:
    text = (
        "| Platform | Aspect |\n|---|---|\n| TikTok | 9:16 |\n\n"
        "| # | Type | Description | Duration |\n|---|---|---|---|\n"
        "| 1 | Wide | A | 5 |\n| 2 | Close-up | B | 5 |\n"
    )
    result = parse_shots(text, 10)
    assert [shot.description for shot in result.shots] == ["A", "B"]


def test_numbered_lists_in_several_styles() -> None:
    text = (
        "Sure! Here's the plan.\n\n"
        "1. Wide shot — The bay at dawn (3s)\n"
        "   Camera: slow push-in, Lens: 24mm\n"
        "   Lighting: soft dawn; Color: cool blue\n"
        "2) Close-up: A gull lands on the rail. 2 sec\n"
        "3. **Medium** - Maria opens the café shutters\n"
        "   - Duration: 0:05\n"
        "   - Camera move: tilt up\n"
        '   - Text on screen: "Open at six"\n\n'
        "Hope this helps!"
    )
    result = parse_shots(text, 10)
    assert result.parsed and not result.scaled
    one, two, three = result.shots
    assert (one.number, one.shot_type, one.description) == (1, "Wide shot", "The bay at dawn")
    assert (one.duration_seconds, one.camera, one.lens) == (3.0, "slow push-in", "24mm")
    assert (one.lighting, one.color) == ("soft dawn", "cool blue")
    assert (two.shot_type, two.description, two.duration_seconds) == (
        "Close-up",
        "A gull lands on the rail.",
        2.0,
    )
    assert two.camera is None and two.lens is None
    assert (three.shot_type, three.description) == ("Medium", "Maria opens the café shutters")
    assert (three.duration_seconds, three.camera, three.on_screen_text) == (
        5.0,
        "tilt up",
        "Open at six",
    )


def test_shot_headings_with_key_value_lines() -> None:
    text = (
        "**Shot 1 — Extreme close-up**\n"
        "Description: Coffee beans pour into the hopper.\n"
        "Duration: 3-4s\n"
        "Lens: 100mm macro\n\n"
        "**Shot 2 — Wide**\n"
        "Description: The roastery floor.\n"
        "Duration: 5 seconds\n\n"
        "### Shot 3\n"
        "Type: Medium\n"
        "Description: The owner smiles at the counter.\n"
        "Duration: 1.5 s\n"
    )
    result = parse_shots(text, 10)
    assert result.parsed and not result.scaled
    assert [shot.number for shot in result.shots] == [1, 2, 3]
    assert [shot.shot_type for shot in result.shots] == ["Extreme close-up", "Wide", "Medium"]
    assert result.shots[0].duration_seconds == 3.5  # a range counts as its midpoint
    assert result.shots[0].lens == "100mm macro"
    assert result.shots[2].description == "The owner smiles at the counter."


def test_timecodes_in_the_shot_heading() -> None:
    text = "Shot 1 (0:00\u20130:02): ECU of an eye\nShot 2 (0:02\u20130:06): Wide of the hall\n"
    result = parse_shots(text, 6)
    assert [shot.shot_type for shot in result.shots] == ["ECU", "Wide"]
    assert [shot.description for shot in result.shots] == ["ECU of an eye", "Wide of the hall"]
    assert [shot.duration_seconds for shot in result.shots] == [2.0, 4.0]


def test_hash_numbering_and_bracketed_timecodes() -> None:
    text = (
        "#1 - Wide: The city wakes up [0:05]\n"
        "#2 - Close-up: An alarm clock rings. 2s\n"
        "#3 - Insert: Shoes laced, 3 s\n"
    )
    result = parse_shots(text, 10)
    assert [shot.duration_seconds for shot in result.shots] == [5.0, 2.0, 3.0]
    assert [shot.shot_type for shot in result.shots] == ["Wide", "Close-up", "Insert"]
    assert result.shots[2].description == "Shoes laced"


def test_plain_bullets_that_name_shots() -> None:
    text = (
        "- Wide shot of the harbour, 4s\n"
        "- Close-up on the rope, 2s\n"
        "- Medium shot of the captain, 4s\n"
    )
    result = parse_shots(text, 10)
    assert [shot.number for shot in result.shots] == [1, 2, 3]
    assert [shot.shot_type for shot in result.shots] == ["Wide shot", "Close-up", "Medium shot"]
    assert result.shots[0].description == "Wide shot of the harbour"


def test_ranges_that_follow_on_are_start_and_end_times() -> None:
    text = "1. (0-3s) Wide: the beach\n2. (3-7s) Close-up: waves\n3. (7-10s) Medium: the surfer\n"
    result = parse_shots(text, 10)
    assert [shot.duration_seconds for shot in result.shots] == [3.0, 4.0, 3.0]
    assert not result.scaled


def test_missing_durations_share_what_is_left() -> None:
    result = parse_shots("1. Wide: the valley\n2. Close-up: a hand, 5s\n3. Medium: the hiker", 10)
    assert [shot.duration_seconds for shot in result.shots] == [2.5, 5.0, 2.5]
    assert not result.scaled
    assert result.note == "2 shots had no duration; they share the remaining 5 s."


def test_no_durations_at_all_are_shared_equally() -> None:
    result = parse_shots("Shot 1: Wide of the dunes\nShot 2: Close-up of sand\nShot 3: POV", 10)
    assert [shot.duration_seconds for shot in result.shots] == [3.3, 3.3, 3.4]
    assert result.shots[2].shot_type == "POV"
    assert total(result) == 10
    assert not result.scaled
    assert "shared equally" in result.note


def test_missing_durations_when_nothing_is_left_are_scaled() -> None:
    result = parse_shots("1. Wide: a, 6s\n2. Close-up: b, 6s\n3. Medium: c", 10)
    assert result.scaled
    assert total(result) == 10
    assert result.note.startswith("The model's durations added up to 18 s")
    assert "average" in result.note


def test_within_the_tolerance_the_models_numbers_stay() -> None:
    assert duration_tolerance(10) == 0.5
    assert duration_tolerance(300) == 6
    result = parse_shots("1. Wide: a, 5s\n2. Close-up: b, 5.4s", 10)
    assert not result.scaled and [s.duration_seconds for s in result.shots] == [5.0, 5.4]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3", 3.0),
        ("3s", 3.0),
        ("3 sec", 3.0),
        ("3 seconds", 3.0),
        ("2.5 s", 2.5),
        ("2,5s", 2.5),
        ("0:03", 3.0),
        ("1:30", 90.0),
        ("1m 30s", 90.0),
        ("2 min", 120.0),
        ("3-4s", 3.5),
        ("3\u20135 sec", 4.0),
        ("3 to 4 seconds", 3.5),
        ("0:02-0:05", 3.0),
        ("~4s", 4.0),
        ("", None),
        ("n/a", None),
        ("quick", None),
    ],
)
def test_duration_formats(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_a_lens_or_an_aspect_in_prose_is_not_a_duration() -> None:
    result = parse_shots("1. Wide shot on a 35mm lens, framed 9:16\n2. Close-up: hands, 4s", 8)
    assert result.shots[0].duration_seconds == 4.0  # the share left by shot 2
    assert "had no duration" in result.note


def test_a_numbered_list_of_tips_is_not_a_shot_list() -> None:
    text = "Three tips:\n1. Keep it short.\n2. Use captions.\n3. Open fast."
    result = parse_shots(text, 30)
    assert not result.parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "   \n\n  ",
        "I think the video should feel warm and open on the product in use.",
        "The director and the editor disagree about pacing.\n\nWe should talk it through.",
        "||| --- ::: 1234 ### ***",
        "```\n```",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "\x00\x01\x02 random bytes ÿþ",
    ],
)
def test_unreadable_input_is_kept_raw_with_a_note(text: str | None) -> None:
    result = parse_shots(text, 30)
    assert result == ShotList([], parsed=False, scaled=False, note=UNREADABLE_NOTE)


def test_random_text_never_raises() -> None:
    rng = random.Random(7)
    alphabet = "abc 123|:-\u2013—*#()[]\n\t.s,msecShotDuration:0"
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        result = parse_shots(text, rng.choice([5, 30, 600]))
        assert isinstance(result, ShotList)
        if result.parsed:
            assert result.shots


def test_shot_counts_and_formatting() -> None:
    assert suggested_shot_count(5) == 3
    assert suggested_shot_count(30) == 8
    assert suggested_shot_count(60) == 12
    assert suggested_shot_count(600) == 12
    assert format_seconds(3.0) == "3"
    assert format_seconds(2.5) == "2.5"
