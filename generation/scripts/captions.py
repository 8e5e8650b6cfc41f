"""Captions of a script: the spoken words cut into cues people can read.

Each cue lasts 1 to 7 seconds and holds at most two lines of at most 42 characters (the common
broadcast limits), timed by the delivery's words per minute from the start of its section. A cue
ends early at the end of a sentence once it has been on screen a second, and always at the end
of a section. Headings (section labels) never go into caption text: they belong to the timing
sheet. The files are written by webvtt-py, as WebVTT or SRT.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import webvtt

from generation.scripts.textutils import spoken_lines, words
from generation.scripts.timing import TimingRow

LINE_CHARS = 42
LINES = 2
MIN_SECONDS = 1.0
MAX_SECONDS = 7.0

_MARKUP = re.compile(r"(\*\*|__|\*|`|~~)")
_LIST_MARK = re.compile(r"^\s*(?:[-*+>]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?\u2026][\"\u201d\u2019)\]]*$")


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _tokens(body: str) -> list[str]:
    tokens: list[str] = []
    for line in spoken_lines(body):
        plain = _MARKUP.sub("", _LIST_MARK.sub("", line))
        tokens.extend(plain.split())
    return tokens


def _pieces(token: str) -> list[str]:
    """A token longer than a line, cut into line-long pieces."""
    return [token[i : i + LINE_CHARS] for i in range(0, len(token), LINE_CHARS)] or [token]


def wrap(tokens: list[str]) -> list[str] | None:
    """``tokens`` as lines of at most ``LINE_CHARS`` characters, or None when they need more
    than ``LINES`` lines."""
    lines: list[str] = []
    for token in tokens:
        for piece in _pieces(token):
            if lines and len(lines[-1]) + 1 + len(piece) <= LINE_CHARS:
                lines[-1] = f"{lines[-1]} {piece}"
            else:
                lines.append(piece)
            if len(lines) > LINES:
                return None
    return lines


def _section_cues(row: TimingRow, words_per_minute: int, not_before: float) -> list[Cue]:
    per_word = 60.0 / words_per_minute if words_per_minute else 0.4
    cues: list[Cue] = []
    clock = max(row.start_seconds, not_before)
    held: list[str] = []
    held_seconds = 0.0

    def close() -> None:
        nonlocal clock, held, held_seconds
        if not held:
            return
        lines = wrap(held) or []
        end = clock + max(MIN_SECONDS, min(MAX_SECONDS, held_seconds))
        cues.append(Cue(clock, end, tuple(lines)))
        clock, held, held_seconds = end, [], 0.0

    for token in _tokens(row.body):
        seconds = per_word * len(words(token))
        if held and (wrap([*held, token]) is None or held_seconds + seconds > MAX_SECONDS):
            close()
        held.append(token)
        held_seconds += seconds
        if _SENTENCE_END.search(token) and held_seconds >= MIN_SECONDS:
            close()
    close()
    return cues


def script_cues(rows: list[TimingRow], words_per_minute: int) -> list[Cue]:
    """The cues of a script's sections (its timing table) read at ``words_per_minute``."""
    cues: list[Cue] = []
    for row in rows:
        cues.extend(_section_cues(row, words_per_minute, cues[-1].end if cues else 0.0))
    return cues


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def vtt_text(text: str) -> str:
    """Cue text for WebVTT: ``&``, ``<`` and ``>`` as character references, so a cue shows
    what the script says (never a cue tag such as ``<c>`` or ``<v>``), and ``-->`` cannot end
    a cue early."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def srt_text(text: str) -> str:
    """Cue text for SRT, which has no escapes: an arrow in the text is kept from reading as a
    timing line."""
    return text.replace("-->", "->")


def captions_file(cues: list[Cue], fmt: str) -> str:
    """The cues as a WebVTT (``vtt``) or SRT (``srt``) file."""
    text_of = vtt_text if fmt == "vtt" else srt_text
    document = webvtt.WebVTT(
        captions=[webvtt.Caption(_stamp(c.start), _stamp(c.end), text_of(c.text)) for c in cues]
    )
    if fmt == "vtt":
        return document.content
    buffer = io.StringIO()
    document.write(buffer, format="srt")
    return buffer.getvalue().rstrip("\n") + "\n"
