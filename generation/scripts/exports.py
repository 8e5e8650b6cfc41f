"""A script version as Markdown, plain text, or SRT-style timed sections."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.text import slugify

from generation.scripts.models import Script, ScriptVersion
from generation.scripts.timing import clock, timing_table


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    content_type: str
    content: str


FORMATS = ("md", "txt", "srt")


def _srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


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


def export_srt(script: Script, version: ScriptVersion) -> str:
    cues: list[str] = []
    for index, row in enumerate(timing_table(version.text, script.words_per_minute), start=1):
        body = " ".join(row.body.split()) or row.title
        cues.append(
            f"{index}\n{_srt_time(row.start_seconds)} --> {_srt_time(row.end_seconds)}\n"
            f"[{row.title}] {body}\n"
        )
    return "\n".join(cues)


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
            f"{stem}.srt", "application/x-subrip; charset=utf-8", export_srt(script, version)
        )
    raise ValueError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
