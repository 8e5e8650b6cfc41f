"""A shot list as the model wrote it, read into structured shots.

``parse_shots(text, target_seconds)`` never raises. It reads, in this order of preference:

- a Markdown table (with or without the outer pipes, with or without the alignment row, columns
  in any order, headers under many names: "Type"/"Shot", "Dur"/"Duration"/"Time",
  "Camera move"/"Movement", "Colour"/"Color"/"Grade", "Text on screen"/"Overlay", ...);
- otherwise a list of shots, each opened by a line such as ``1.``, ``1)``, ``Shot 1:``,
  ``#1 -``, ``**Shot 1**`` or ``### Shot 1``, with the shot's fields on that line or on the lines
  under it (``Camera: slow push-in, Lens: 35mm``, ``- Duration: 3s``); when no line opens a
  numbered shot, top-level bullets that name a shot size or a length are read as shots.

Prose before and after, code fences and Markdown emphasis are ignored. A field the model left out
is ``None``.

Durations are read from ``3``, ``3s``, ``3 sec``, ``3 seconds``, ``0:03``, ``1m 30s`` and ranges.
A range of lengths (``3-4s``) counts as its midpoint: the model is unsure between the two, and
the midpoint is the fairest reading before the list is fitted to the target anyway. A range of
timecodes (``0:00-0:03``), or ranges that follow on from one another starting at zero
(``0-3s``, ``3-7s``, ...), are the shots' start and end times, so each lasts end minus start.

The durations are then fitted to ``target_seconds``: shots with no duration share equally what
the others leave; when the sum is off by more than ``duration_tolerance`` (0.5 s or 2 %, the
larger), every duration is scaled proportionally, rounded to 0.1 s with the last shot absorbing
the rounding so that the sum is exact, and the list says so (``scaled`` and ``note``). A list
within the tolerance keeps the model's numbers.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

SHOT_FIELDS: tuple[str, ...] = (
    "number",
    "shot_type",
    "description",
    "duration_seconds",
    "camera",
    "lens",
    "lighting",
    "color",
    "on_screen_text",
)
"""The keys of a shot in the API, in order."""

SHOT_COLUMNS: tuple[str, ...] = (
    "#",
    "Shot type",
    "Description",
    "Duration (s)",
    "Camera",
    "Lens",
    "Lighting",
    "Color",
    "On-screen text",
)
"""The columns a shot list is asked for in (``SHOT_FIELDS`` in the same order)."""

MIN_SHOTS = 3
MAX_SHOTS = 12
UNREADABLE_NOTE = "The shot list could not be read; it is shown as the model wrote it."
_MAX_CHARS = 100_000
_MAX_DURATION = 3600.0


def suggested_shot_count(duration_seconds: float) -> int:
    """How many shots a list for this running time should have: about one every four seconds,
    from ``MIN_SHOTS`` to ``MAX_SHOTS``."""
    return min(MAX_SHOTS, max(MIN_SHOTS, round(duration_seconds / 4)))


def duration_tolerance(target_seconds: float) -> float:
    """How far a list's total may be from the target before it is scaled."""
    return max(0.5, 0.02 * target_seconds)


def format_seconds(seconds: float) -> str:
    """``3`` for 3.0, ``2.5`` for 2.5: the shortest honest spelling of a duration."""
    rounded = round(seconds, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


@dataclass(slots=True)
class Shot:
    number: int
    shot_type: str | None = None
    description: str | None = None
    duration_seconds: float | None = None
    camera: str | None = None
    lens: str | None = None
    lighting: str | None = None
    color: str | None = None
    on_screen_text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SHOT_FIELDS}


@dataclass(slots=True)
class ShotList:
    shots: list[Shot]
    parsed: bool
    scaled: bool
    note: str = ""

    @property
    def total_seconds(self) -> float:
        return round(sum(shot.duration_seconds or 0.0 for shot in self.shots), 1)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [shot.as_dict() for shot in self.shots]


# ---------------------------------------------------------------------------------------------
# Cleaning cells and values

_PLACEHOLDERS = frozenset(
    {"", "-", "--", "—", "\u2013", "n/a", "na", "none", "null", "nil", "tbd", "/", "…", "...", "x"}
)
_EMPHASIS = re.compile(r"\*\*|__|`")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = _BR.sub(" ", value)
    text = _EMPHASIS.sub("", text)
    text = " ".join(text.split()).strip(" \t,;|")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    if len(text) >= 2 and text[0] in '“"' and text[-1] in '”"':
        text = text[1:-1].strip()
    return None if text.lower() in _PLACEHOLDERS else text


# ---------------------------------------------------------------------------------------------
# Durations

_NUM = r"\d+(?:[.,]\d+)?"
_TC = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:\.\d+)?"
_DASH = r"\s*(?:-|\u2013|—|to)\s*"
_SEC_UNIT = r"(?:s|sec|secs|second|seconds|″)"
_MIN_UNIT = r"(?:min|mins|minute|minutes)"


@dataclass(frozen=True, slots=True)
class _Duration:
    seconds: float
    start: float | None = None
    end: float | None = None


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _timecode(text: str) -> float:
    parts = [float(part) for part in text.split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def _plausible(seconds: float) -> bool:
    return 0 < seconds <= _MAX_DURATION


_TC_RANGE = re.compile(rf"({_TC}){_DASH}({_TC})")
_TC_ONE = re.compile(rf"(?<![\d:.])({_TC})(?![\d:])")
_MIN_SEC = re.compile(
    rf"(?<![\w.])({_NUM})\s*{_MIN_UNIT}\b\.?\s*(?:(\d+)\s*{_SEC_UNIT}(?![a-z]))?", re.IGNORECASE
)
_M_S = re.compile(rf"(?<![\w.])(\d+)\s*m\s*(\d+)\s*{_SEC_UNIT}(?![a-z])", re.IGNORECASE)
_M_BARE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*m\s*$", re.IGNORECASE)
_NUM_RANGE = re.compile(
    rf"(?<![\w.:])({_NUM})\s*{_SEC_UNIT}?{_DASH}({_NUM})\s*({_SEC_UNIT})?(?![\w:])", re.IGNORECASE
)
_NUM_UNIT = re.compile(rf"(?<![\w.:])({_NUM})\s*{_SEC_UNIT}(?![a-z\d])", re.IGNORECASE)
_NUM_BARE = re.compile(rf"(?<![\w.:])({_NUM})(?![\w:])")


def _duration_in(text: str, *, bare: bool) -> tuple[_Duration, tuple[int, int]] | None:
    """The first duration written in ``text`` and where it is; a bare number counts only when
    ``bare`` (in a duration column or after a "Duration:" key)."""
    match = _TC_RANGE.search(text)
    if match:
        start, end = _timecode(match.group(1)), _timecode(match.group(2))
        if end > start and _plausible(end - start):
            return _Duration(end - start, start, end), match.span()
    match = _NUM_RANGE.search(text)
    if match and (bare or match.group(3)):
        low, high = _number(match.group(1)), _number(match.group(2))
        if high > low and _plausible(high):
            return _Duration(round((low + high) / 2, 2), low, high), match.span()
    match = _M_S.search(text) or _MIN_SEC.search(text) or (_M_BARE.search(text) if bare else None)
    if match:
        extra = match.group(2) if match.re is not _M_BARE else None
        seconds = _number(match.group(1)) * 60 + (int(extra) if extra else 0)
        if _plausible(seconds):
            return _Duration(seconds), match.span()
    match = _TC_ONE.search(text)
    if match and (bare or _bracketed(text, match.span())):
        seconds = _timecode(match.group(1))
        if _plausible(seconds):
            return _Duration(seconds), match.span()
    match = _NUM_UNIT.search(text)
    if match:
        seconds = _number(match.group(1))
        if _plausible(seconds):
            return _Duration(seconds), match.span()
    if bare:
        match = _NUM_BARE.search(text)
        if match:
            seconds = _number(match.group(1))
            if _plausible(seconds):
                return _Duration(seconds), match.span()
    return None


def _bracketed(text: str, span: tuple[int, int]) -> bool:
    before = text[: span[0]].rstrip()
    after = text[span[1] :].lstrip()
    return bool(before) and before[-1] in "([" and bool(after) and after[0] in ")]"


def parse_duration(text: str | None) -> float | None:
    """The seconds written in a duration cell (``3``, ``3s``, ``0:03``, ``3-4 s``: 3.5, ...)."""
    if not text:
        return None
    found = _duration_in(text, bare=True)
    return found[0].seconds if found else None


# ---------------------------------------------------------------------------------------------
# Headers and keys

_EXACT_HEADERS: dict[str, str] = {
    "#": "number",
    "no": "number",
    "n": "number",
    "nr": "number",
    "num": "number",
    "number": "number",
    "id": "number",
    "shot": "shot_type",
    "type": "shot_type",
    "text": "on_screen_text",
    "super": "on_screen_text",
    "move": "camera",
    "what we see": "description",
    "notes": "_notes",
    "note": "_notes",
}


def _header_field(cell: str) -> str | None:
    """The shot field a table header or a key names, or None."""
    text = _EMPHASIS.sub("", cell).lower()
    text = re.sub(r"\(([^)]*)\)", lambda m: " # " if m.group(1).strip() == "#" else " ", text)
    text = " ".join(re.sub(r"[^a-z0-9#]+", " ", text).split())
    if not text:
        return None
    if text in _EXACT_HEADERS:
        return _EXACT_HEADERS[text]
    words = set(text.split())
    if "#" in text or words & {"no", "number", "num", "nr"}:
        return "number"
    if re.search(
        r"\btext|overlay|caption|subtitle|\btitles?\b|\bsuper\b|graphic|lower third", text
    ):
        return "on_screen_text"
    if re.search(r"lens|focal|\bmm\b", text):
        return "lens"
    if re.search(r"\bdur|\btime|length|\bsec|runtime|timing", text):
        return "duration"
    if "light" in text:
        return "lighting"
    if re.search(r"colou?r|grade|grading|palette|\blut\b|mood", text):
        return "color"
    if re.search(r"camera|movement|\bmove|motion|\brig\b", text):
        return "camera"
    if re.search(r"desc|action|visual|scene|content|subject|what we see|picture|detail", text):
        return "description"
    if re.search(r"type|framing|\bsize|angle|\bshot", text):
        return "shot_type"
    if "note" in text:
        return "_notes"
    return None


_KEY_WORDS = (
    r"shot\s+type|shot\s+size|type|framing|size|angle|shot|description|desc|action|visuals?|"
    r"what\s+we\s+see|duration|dur|length|runtime|timing|time|camera\s+move(?:ment)?|"
    r"camera\s+motion|camera|movement|move|lens(?:es)?|focal\s+length|lighting|light|"
    r"colou?r\s+(?:notes|grade|palette)|colou?r|grade|palette|on[-\s]?screen\s+text|"
    r"text\s+on\s+screen|text\s+overlay|overlay|on[-\s]?screen|text|captions?|super|notes?"
)
_KEY = re.compile(
    rf"(?:^|(?<=[,;|(.])|(?<=\s[-\u2013—·]))\s*({_KEY_WORDS})\s*(?:\([^)]*\))?\s*[:=]\s*",
    re.IGNORECASE,
)


def _key_values(line: str) -> tuple[str, list[tuple[str, str]]]:
    """The prose before any key on the line, and each ``Key: value`` after it."""
    matches = list(_KEY.finditer(line))
    if not matches:
        return line, []
    prose = line[: matches[0].start()]
    pairs: list[tuple[str, str]] = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        name = _header_field(match.group(1))
        if name is not None:
            pairs.append((name, line[match.end() : end].strip(" \t,;|()")))
    return prose, pairs


# ---------------------------------------------------------------------------------------------
# Shot sizes

_SHOT_TYPE = re.compile(
    r"^\s*\[?\s*("
    r"extreme\s+close[-\s]?ups?|extreme\s+wide|extreme\s+long|very\s+wide|medium\s+close[-\s]?ups?"
    r"|medium\s+wide|medium\s+long|medium\s+full|close[-\s]?ups?|wide|long|full|establishing"
    r"|medium|mid|tight|insert|detail|over[-\s]the[-\s]shoulder|pov|point[-\s]of[-\s]view"
    r"|two[-\s]shot|aerial|drone|overhead|top[-\s]down|bird'?s[-\s]eye|low[-\s]angle"
    r"|high[-\s]angle|dutch(?:\s+angle)?|tracking|macro|cutaway|reaction|b[-\s]?roll"
    r"|ecu|ews|els|mcu|mws|mls|ms|ws|cu|ls|fs|ots"
    r")(?:\s+(?:shot|angle|view))?(?![\w-])\s*\]?",
    re.IGNORECASE,
)


def _split_shot_type(prose: str) -> tuple[str | None, str]:
    """A shot size named at the start of the prose, and the description that remains."""
    match = _SHOT_TYPE.match(prose)
    if not match:
        return None, prose
    shot_type = match.group(0).strip(" []")
    rest = prose[match.end() :]
    separated = re.match(r"\s*(?::|—|\u2013|-|,|\||\.|/)\s*", rest)
    if separated:
        return shot_type, rest[separated.end() :]
    if not rest.strip():
        return shot_type, ""
    return shot_type, prose


# ---------------------------------------------------------------------------------------------
# Building shots from fields


@dataclass(slots=True)
class _Draft:
    number: int | None
    fields: dict[str, str] = field(default_factory=dict)
    prose: list[str] = field(default_factory=list)
    duration: _Duration | None = None

    def set(self, name: str, value: str) -> None:
        if name == "duration":
            if self.duration is None:
                found = _duration_in(value, bare=True)
                if found:
                    self.duration = found[0]
            return
        if name == "number":
            return
        cleaned = _clean(value)
        if cleaned is None:
            return
        if name in self.fields:
            self.fields[name] = f"{self.fields[name]} {cleaned}"
        else:
            self.fields[name] = cleaned

    def shot(self, index: int) -> Shot | None:
        description = self.fields.get("description")
        prose = _clean(" ".join(self.prose))
        if prose and description:
            joiner = ": " if len(prose.split()) <= 6 and not prose.endswith(".") else " "
            description = f"{prose}{joiner}{description}"
        elif prose:
            description = prose
        if not description:
            description = self.fields.get("_notes")
        shot = Shot(
            number=self.number if self.number is not None else index,
            shot_type=self.fields.get("shot_type"),
            description=description,
            duration_seconds=self.duration.seconds if self.duration else None,
            camera=self.fields.get("camera"),
            lens=self.fields.get("lens"),
            lighting=self.fields.get("lighting"),
            color=self.fields.get("color"),
            on_screen_text=self.fields.get("on_screen_text"),
        )
        if all(getattr(shot, name) is None for name in SHOT_FIELDS if name != "number"):
            return None
        return shot


def _shots_from(drafts: list[_Draft]) -> list[Shot]:
    _timeline_durations(drafts)
    shots: list[Shot] = []
    for draft in drafts:
        shot = draft.shot(len(shots) + 1)
        if shot is not None:
            shots.append(shot)
    return shots


def _timeline_durations(drafts: list[_Draft]) -> None:
    """Ranges that follow on from one another from zero are start and end times."""
    ranged = [draft.duration for draft in drafts if draft.duration and draft.duration.end]
    if len(ranged) < 2 or ranged[0].start != 0:
        return
    for before, after in itertools.pairwise(ranged):
        if before.end is None or after.start is None or abs(after.start - before.end) > 0.05:
            return
    for draft in drafts:
        span = draft.duration
        if span is not None and span.start is not None and span.end is not None:
            draft.duration = _Duration(round(span.end - span.start, 2), span.start, span.end)


# ---------------------------------------------------------------------------------------------
# Tables

_ALIGNMENT_CELL = re.compile(r"^\s*:?-{2,}:?\s*$|^\s*:?-:?\s*$")


def _cells(line: str) -> list[str] | None:
    text = line.strip()
    if "|" not in text:
        return None
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", text)]
    return cells if len(cells) >= 2 else None


def _is_alignment(cells: list[str]) -> bool:
    return all(_ALIGNMENT_CELL.match(cell) for cell in cells if cell) and any(cells)


def _header_map(cells: list[str]) -> dict[int, str] | None:
    found: dict[int, str] = {}
    for index, cell in enumerate(cells):
        name = _header_field(cell)
        if name is not None:
            found[index] = name
    bare_shot = [
        i
        for i, cell in enumerate(cells)
        if _EMPHASIS.sub("", cell).strip().lower() in {"shot", "shot #"}
    ]
    names = list(found.values())
    for index in bare_shot:
        if found.get(index) == "shot_type" and names.count("shot_type") > 1:
            found[index] = "number" if "number" not in names else "_ignored"
            names = list(found.values())
    mapped: dict[int, str] = {}
    seen: set[str] = set()
    for index, name in sorted(found.items()):
        if name in seen or name == "_ignored":
            continue
        seen.add(name)
        mapped[index] = name
    if len(seen) < 2 or not seen & {"description", "shot_type", "camera", "_notes"}:
        return None
    return mapped


def _table_blocks(lines: list[str]) -> list[list[list[str]]]:
    blocks: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in lines:
        cells = _cells(line)
        if cells is None:
            if current:
                blocks.append(current)
                current = []
            continue
        current.append(cells)
    if current:
        blocks.append(current)
    return blocks


def _total_row(cells: list[str]) -> bool:
    return any(re.match(r"^\W*total\b", _EMPHASIS.sub("", cell).strip(), re.I) for cell in cells)


def _table_shots(block: list[list[str]]) -> list[Shot]:
    header_index = next((i for i, cells in enumerate(block[:3]) if _header_map(cells)), None)
    if header_index is not None:
        mapping = _header_map(block[header_index]) or {}
        rows = block[header_index + 1 :]
    elif len(block[0]) == len(SHOT_COLUMNS):
        mapping = dict(
            enumerate(
                field_ if field_ != "duration_seconds" else "duration" for field_ in SHOT_FIELDS
            )
        )
        rows = block
    else:
        return []
    drafts: list[_Draft] = []
    for cells in rows:
        if _is_alignment(cells) or _total_row(cells) or not any(cells):
            continue
        number: int | None = None
        draft = _Draft(number=None)
        for index, name in mapping.items():
            if index >= len(cells):
                continue
            value = cells[index]
            if name == "number":
                digits = re.search(r"\d{1,4}", value)
                number = int(digits.group(0)) if digits else None
            else:
                draft.set(name, value)
        draft.number = number
        drafts.append(draft)
    return _shots_from(drafts)


# ---------------------------------------------------------------------------------------------
# Lists

_LEAD = r"^(?:#{1,6}\s+)?(?:[-*+•]\s+)?(?:\*\*|__)?\s*"
_SHOT_HEADER = re.compile(
    _LEAD + r"(?:shot|scene)\s*(?:#|no\.?|number)?\s*(\d{1,3})(?!\d|[.,:]\d)(.*)$", re.IGNORECASE
)
_HASH_HEADER = re.compile(_LEAD + r"#\s?(\d{1,3})(?!\d)(.*)$")
_NUMBER_HEADER = re.compile(
    _LEAD + r"\(?(\d{1,3})(?:[.)]|\*\*\s*[.)]|\s*[:\u2013—]|\s+-)(?=\s|\*|$)(.*)$"
)
_BULLET = re.compile(r"^([-*+•])\s+(.*)$")
_TOTAL_LINE = re.compile(r"^\W*(?:total|sum)\b", re.IGNORECASE)


def _header_rest(rest: str) -> str:
    text = re.sub(r"^\s*(?:\*\*|__)?\s*(?:[.):\-\u2013—|]+\s*)?", "", rest)
    text = re.sub(r"^\s*(?:\*\*|__)\s*(?:[.):\-\u2013—|]+\s*)?", "", text)
    return text.strip()


def _list_headers(lines: list[str]) -> tuple[list[tuple[int, int, str]], bool]:
    """The lines that open a shot (index, number, the rest of the line), and whether they say
    "shot" (or ``#n``) rather than being merely numbered."""
    explicit: list[tuple[int, int, str]] = []
    numbered: list[tuple[int, int, str]] = []
    for index, line in enumerate(lines):
        text = line.strip()
        if _cells(text) and text.count("|") >= 2:
            continue
        match = _SHOT_HEADER.match(text) or _HASH_HEADER.match(text)
        if match:
            explicit.append((index, int(match.group(1)), _header_rest(match.group(2))))
            continue
        match = _NUMBER_HEADER.match(text)
        if match and line[: len(line) - len(line.lstrip())].count(" ") < 2:
            numbered.append((index, int(match.group(1)), _header_rest(match.group(2))))
    return (explicit, True) if explicit else (numbered, False)


def _bullet_headers(lines: list[str]) -> list[tuple[int, int | None, str]]:
    found: list[tuple[int, int | None, str]] = []
    for index, line in enumerate(lines):
        if line[:1].isspace():
            continue
        match = _BULLET.match(line.strip())
        if not match:
            continue
        body = _EMPHASIS.sub("", match.group(2))
        prose, pairs = _key_values(body)
        if not prose.strip() and pairs:
            continue
        if _SHOT_TYPE.match(body) or _duration_in(body, bare=False):
            found.append((index, None, match.group(2)))
    return found


def _read_line(draft: _Draft, line: str, *, header: bool) -> None:
    text = _EMPHASIS.sub("", line.strip())
    bullet = _BULLET.match(text)
    if bullet:
        text = bullet.group(2)
    prose, pairs = _key_values(text)
    for name, value in pairs:
        draft.set(name, value)
    prose = prose.strip()
    if not prose:
        return
    if draft.duration is None:
        found = _duration_in(prose, bare=False)
        if found:
            draft.duration = found[0]
            start, end = found[1]
            prose = prose[:start] + prose[end:]
            prose = re.sub(r"[(\[]\s*[)\]]", "", prose)
            prose = re.sub(r"\s+[-\u2013—,]\s*$", "", prose.strip()).strip()
    prose = prose.strip(" \t-\u2013—:|")
    if header and "shot_type" not in draft.fields:
        shot_type, prose = _split_shot_type(prose)
        if shot_type:
            draft.fields["shot_type"] = shot_type
    prose = prose.strip(" \t-\u2013—:|")
    if prose:
        draft.prose.append(prose)


def _list_shots(lines: list[str]) -> list[Shot]:
    numbered, explicit = _list_headers(lines)
    headers: list[tuple[int, int | None, str]] = list(numbered)
    if not headers:
        headers, explicit = _bullet_headers(lines), True
    if not headers:
        return []
    drafts: list[_Draft] = []
    for position, (index, number, rest) in enumerate(headers):
        end = headers[position + 1][0] if position + 1 < len(headers) else len(lines)
        draft = _Draft(number=number)
        _read_line(draft, rest, header=True)
        after_blank = False
        for line in lines[index + 1 : end]:
            if not line.strip():
                after_blank = True
                continue
            if _TOTAL_LINE.match(_EMPHASIS.sub("", line)):
                break
            indented = line[:1].isspace()
            keyed = bool(_key_values(_EMPHASIS.sub("", line.strip().lstrip("-*+• ")))[1])
            bulleted = bool(_BULLET.match(line.strip()))
            if after_blank and not (indented or keyed or bulleted):
                break
            _read_line(draft, line, header=False)
        drafts.append(draft)
    if not explicit and sum(map(_looks_like_shot, drafts)) * 2 < len(drafts):
        return []
    return _shots_from(drafts)


def _looks_like_shot(draft: _Draft) -> bool:
    """A numbered item that names a length, a shot size or a camera field (not a list of tips)."""
    return draft.duration is not None or bool(draft.fields.keys() & _SHOT_SIGNS)


_SHOT_SIGNS = frozenset({"shot_type", "camera", "lens", "lighting", "color", "on_screen_text"})


# ---------------------------------------------------------------------------------------------
# Fitting the durations to the target


def _tenths(values: list[float], total_tenths: int) -> list[int]:
    """Shares of ``total_tenths`` proportional to ``values``, each at least one where possible,
    by largest remainder."""
    weight = sum(values)
    raw = [value / weight * total_tenths for value in values]
    shares = [max(1, math.floor(share)) for share in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    position = 0
    while sum(shares) < total_tenths:
        shares[order[position % len(order)]] += 1
        position += 1
    position = 0
    while sum(shares) > total_tenths and any(share > 1 for share in shares):
        index = order[-1 - position % len(order)]
        if shares[index] > 1:
            shares[index] -= 1
        position += 1
    return shares


def _scaled(values: list[float], target: float) -> list[float]:
    """``values`` scaled to sum to ``target``, in tenths, the last absorbing the rounding."""
    target_tenths = round(target * 10)
    factor = target_tenths / sum(values)
    tenths = [round(value * factor) for value in values[:-1]]
    last = target_tenths - sum(tenths)
    if last < 1 or any(share < 1 for share in tenths):
        tenths = _tenths(values, target_tenths)
    else:
        tenths.append(last)
    return [share / 10 for share in tenths]


def _spell(seconds: float) -> str:
    return f"{format_seconds(seconds)} s"


def _fit(shots: list[Shot], target: float) -> tuple[bool, str]:
    if target <= 0 or not shots:
        return False, ""
    tolerance = duration_tolerance(target)
    known = [shot.duration_seconds for shot in shots if shot.duration_seconds]
    missing = [shot for shot in shots if not shot.duration_seconds]
    notes: list[str] = []
    if missing and not known:
        shares = _scaled([1.0] * len(shots), target)
        for shot, share in zip(shots, shares, strict=True):
            shot.duration_seconds = share
        return False, f"The model gave no durations; the {_spell(target)} were shared equally."
    if missing:
        left = target - sum(known)
        if left >= 0.5 * len(missing):
            shares = _scaled([1.0] * len(missing), round(left, 1))
            for shot, share in zip(missing, shares, strict=True):
                shot.duration_seconds = share
            count = len(missing)
            notes.append(
                f"{count} shot{'s' if count > 1 else ''} had no duration; "
                f"{'they share' if count > 1 else 'it takes'} the remaining {_spell(left)}."
            )
        else:
            average = round(sum(known) / len(known), 1)
            for shot in missing:
                shot.duration_seconds = average
            count = len(missing)
            notes.append(
                f"{count} shot{'s' if count > 1 else ''} without a duration "
                f"{'were' if count > 1 else 'was'} given the average of the others first."
            )
    durations = [shot.duration_seconds or 0.0 for shot in shots]
    total = sum(durations)
    if abs(total - target) <= tolerance:
        return False, " ".join(notes)
    for shot, value in zip(shots, _scaled(durations, target), strict=True):
        shot.duration_seconds = value
    notes.insert(
        0,
        f"The model's durations added up to {_spell(total)}; they were scaled to {_spell(target)}.",
    )
    return True, " ".join(notes)


# ---------------------------------------------------------------------------------------------
# The parser

_FENCE = re.compile(r"^\s*(?:```|~~~)")


def parse_shots(text: str | None, target_seconds: float) -> ShotList:
    """The shots in ``text``, their durations fitted to ``target_seconds``; never raises."""
    lines = [
        line
        for line in (text or "")[:_MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if not _FENCE.match(line)
    ]
    shots: list[Shot] = []
    for block in _table_blocks(lines):
        found = _table_shots(block)
        if len(found) > len(shots):
            shots = found
    if not shots:
        shots = _list_shots(lines)
    if not shots:
        return ShotList([], parsed=False, scaled=False, note=UNREADABLE_NOTE)
    scaled, note = _fit(shots, float(target_seconds or 0))
    return ShotList(shots, parsed=True, scaled=scaled, note=note)
