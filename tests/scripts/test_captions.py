"""Captions read as people need them, checked by real subtitle parsers (pysrt for SRT,
webvtt-py for WebVTT): cues of 1 to 7 seconds, at most two lines of 42 characters, timed by the
delivery's pace, every spoken word in order and no section label in the text."""

from __future__ import annotations

import re

import pysrt
import pytest
import webvtt

from generation.scripts.captions import LINE_CHARS, captions_file, script_cues, wrap
from generation.scripts.exports import _cell
from generation.scripts.textutils import words
from generation.scripts.timing import timing_table

SCRIPT = """## Hook
Ever wondered why the sea rises twice a day? **Tides** are the Moon's pull, and a little of the
Sun's, on every ocean at once.

## Body
- The Moon pulls the water nearest to it into a bulge.
- The Earth turns beneath that bulge, so the coast meets it again and again; there is a second
  bulge on the far side, which is why there are two high tides a day.
Antidisestablishmentarianismandsupercalifragilisticexpialidocious is no word a caption can hold.

## Call to action
Follow for more. Bye!
"""
WPM = 150


def spoken(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return [w.lower() for w in words(body)]


def srt_seconds(time: pysrt.SubRipTime) -> float:
    return time.ordinal / 1000


@pytest.mark.parametrize("wpm", [90, 150, 220])
def test_srt_cues_are_readable_and_keep_every_word(wpm: int) -> None:
    rows = timing_table(SCRIPT, wpm)
    cues = pysrt.from_string(captions_file(script_cues(rows, wpm), "srt"))
    assert len(cues) >= 5
    previous_end = 0.0
    for cue in cues:
        start, end = srt_seconds(cue.start), srt_seconds(cue.end)
        assert 1.0 <= end - start <= 7.0 + 1e-9, cue
        assert start >= previous_end - 1e-9  # in order, never overlapping
        previous_end = end
        lines = cue.text.split("\n")
        assert 1 <= len(lines) <= 2, cue.text
        assert all(len(line) <= LINE_CHARS for line in lines), cue.text
        assert not re.search(r"Hook|Body|Call to action|##|\*\*|^- ", cue.text, re.M), cue.text
    said = [w.lower() for cue in cues for w in words(cue.text)]
    # Every word arrives in order; the one too long for a line is cut into line-long pieces.
    assert "".join(said) == "".join(spoken(SCRIPT))
    assert max(len(w) for w in said) == LINE_CHARS


def test_the_pace_sets_the_timing() -> None:
    slow = pysrt.from_string(captions_file(script_cues(timing_table(SCRIPT, 100), 100), "srt"))
    fast = pysrt.from_string(captions_file(script_cues(timing_table(SCRIPT, 200), 200), "srt"))
    assert srt_seconds(slow[-1].end) > srt_seconds(fast[-1].end) * 1.5
    words_total = len(spoken(SCRIPT))
    # Read at 200 wpm, the words take words/200 minutes; cues held to a second add a little.
    assert srt_seconds(fast[-1].end) == pytest.approx(words_total * 60 / 200, rel=0.25)


def test_webvtt_holds_the_same_cues() -> None:
    cues = script_cues(timing_table(SCRIPT, WPM), WPM)
    vtt = webvtt.from_string(captions_file(cues, "vtt"))
    srt = pysrt.from_string(captions_file(cues, "srt"))
    assert [c.text for c in vtt.captions] == [c.text for c in srt] == [c.text for c in cues]
    assert [(c.start, c.end) for c in vtt.captions] == [
        (str(c.start).replace(",", "."), str(c.end).replace(",", ".")) for c in srt
    ]


def test_markup_and_arrows_in_the_text_stay_text_in_both_formats() -> None:
    text = "## Hook\nSay <script>x</script> & <c.red>this</c> --> then <v Ann>that</v>.\n"
    cues = script_cues(timing_table(text, WPM), WPM)
    vtt = captions_file(cues, "vtt")
    assert "<" not in vtt and vtt.count("-->") == len(cues)
    assert "&lt;script&gt;x&lt;/script&gt; &amp;" in vtt and "--&gt;" in vtt
    parsed = webvtt.from_string(vtt)
    assert len(parsed.captions) == len(cues)
    # SRT has no escapes and players read its tags: webvtt-py writes the text without them.
    srt_file = captions_file(cues, "srt")
    srt = pysrt.from_string(srt_file)
    assert len(srt) == len(cues) and srt_file.count("-->") == len(cues)
    said = " ".join(cue.text for cue in srt)
    assert "<" not in srt_file and "Say x & this" in said and "-> then that." in said


def test_a_sentence_end_closes_a_cue_once_it_has_been_read() -> None:
    cues = script_cues(timing_table("## A\nFollow for more. Bye now, friends.\n", 150), 150)
    assert [c.text for c in cues] == ["Follow for more.", "Bye now, friends."]
    assert cues[0].end - cues[0].start == pytest.approx(1.2)  # three words at 150 wpm


def test_wrap_refuses_what_two_lines_cannot_hold() -> None:
    assert wrap(["a" * 42]) == ["a" * 42]
    assert wrap(["one", "two"]) == ["one two"]
    assert wrap(["x" * 30, "y" * 30, "z" * 30]) is None


def test_the_timing_sheet_never_runs_a_formula() -> None:
    assert _cell('=HYPERLINK("http://evil")').startswith("'=")
    assert _cell("-1 + 2").startswith("'-")
    assert _cell("Hook") == "Hook"
