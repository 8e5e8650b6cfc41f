"""A script version as Markdown, plain text, captions (SRT, WebVTT) or a timing sheet (CSV)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.utils.text import slugify

from generation.scripts.captions import captions_file, script_cues
from generation.scripts.models import Script, ScriptVersion
from generation.scripts.prompt import section_plan
from generation.scripts.timing import clock, timing_table


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    content_type: str
    content: str


FORMATS = ("md", "txt", "srt", "vtt", "csv")
FORMAT_LABELS = {
    "md": "Markdown",
    "txt": "Text",
    "srt": "Captions (SRT)",
    "vtt": "Captions (WebVTT)",
    "csv": "Timing sheet (CSV)",
}


def _header_lines(script: Script, version: ScriptVersion) -> list[str]:
    brief = script.brief
    lines = [
        f"Topic: {script.topic}",
        f"Platform: {brief.get('platform_label') or brief.get('platform', '')}",
        f"Target: {brief.get('duration_seconds')} s at {brief.get('words_per_minute')} wpm",
        f"Version {version.number} ({version.get_source_display()}), "
        f"{version.provider or 'hand edit'}{' / ' + version.model if version.model else ''}",
    ]
    if version.is_template_output:
        lines.append("Template output (RuleBased, offline)")
    return lines


def export_markdown(script: Script, version: ScriptVersion) -> str:
    header = "\n".join(f"- {line}" for line in _header_lines(script, version))
    return f"# {script.title}\n\n{header}\n\n{version.text.strip()}\n"


def export_text(script: Script, version: ScriptVersion) -> str:
    rows = timing_table(version.text, script.words_per_minute)
    parts = [script.title, "=" * len(script.title), *_header_lines(script, version), ""]
    for row in rows:
        parts.append(f"[{clock(row.start_seconds)}] {row.title}")
        parts.append("")
        if row.body:
            parts.append(row.body)
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def export_captions(script: Script, version: ScriptVersion, fmt: str) -> str:
    rows = timing_table(version.text, script.words_per_minute)
    return captions_file(script_cues(rows, script.words_per_minute), fmt)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def export_timing_sheet(script: Script, version: ScriptVersion) -> str:
    rows = timing_table(version.text, script.words_per_minute, section_plan(script.brief))
    buffer = io.StringIO()
    sheet = csv.writer(buffer, lineterminator="\r\n")
    sheet.writerow(["Section", "Start", "End", "Seconds", "Words", "Planned seconds"])
    for row in rows:
        sheet.writerow(
            [
                _cell(row.title),
                clock(row.start_seconds),
                clock(row.end_seconds),
                f"{row.seconds:.1f}",
                row.words,
                "" if row.planned_seconds is None else f"{row.planned_seconds:.0f}",
            ]
        )
    return buffer.getvalue()


def script_export(script: Script, version: ScriptVersion, fmt: str) -> Export:
    stem = f"{slugify(script.title)[:60] or 'script'}-v{version.number}"
    if fmt == "md":
        return Export(
            f"{stem}.md", "text/markdown; charset=utf-8", export_markdown(script, version)
        )
    if fmt == "txt":
        return Export(f"{stem}.txt", "text/plain; charset=utf-8", export_text(script, version))
    if fmt == "srt":
        return Export(
            f"{stem}.srt",
            "application/x-subrip; charset=utf-8",
            export_captions(script, version, "srt"),
        )
    if fmt == "vtt":
        return Export(
            f"{stem}.vtt", "text/vtt; charset=utf-8", export_captions(script, version, "vtt")
        )
    if fmt == "csv":
        return Export(
            f"{stem}-timing.csv", "text/csv; charset=utf-8", export_timing_sheet(script, version)
        )
    raise ValueError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
