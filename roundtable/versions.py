"""The versions of a session's parts: the first from the session's run, one more per re-run.

``versions_seed`` stores version 1 of every part the session's run produced (the kind's
``on_end``, when it succeeded). ``versions_current`` is the newest finished version of each
part. The synthesis is **built on an earlier version** when an analysis or the debate it read
has a newer version since (its ``based_on`` names the versions it read).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max

from generation.runs.models import Run
from roundtable.agents import AGENT_KEYS
from roundtable.models import PartVersion, Session, VersionStatus

RERUN_KIND = "roundtable_rerun"
INPUT_PARTS = (*AGENT_KEYS, "debate")
"""The parts the synthesis reads."""
RERUN_PARTS = (*INPUT_PARTS, "synthesis", "shots")


def versions_seed(session: Session, run: Run) -> None:
    """Version 1 of each part of the session's run (sync, in the run's ending)."""
    if PartVersion.objects.filter(session=session).exists():
        return
    parts = {part.key: part for part in run.parts.all()}
    read = {key: 1 for key in INPUT_PARTS if key in parts and parts[key].status == "succeeded"}
    rows = []
    for key in RERUN_PARTS:
        part = parts.get(key)
        if part is None or part.status != "succeeded":
            continue
        based_on: dict[str, Any] = {}
        if key == "synthesis":
            based_on = read
        elif key == "shots":
            based_on = {"synthesis": 1}
        rows.append(
            PartVersion(
                session=session,
                part=key,
                number=1,
                run=run,
                status=VersionStatus.SUCCEEDED,
                text=part.text,
                result=part.result,
                provider=part.provider,
                model=part.model,
                cost=part.cost,
                asked_by=run.created_by,
                based_on=based_on,
                created_at=part.finished_at or run.finished_at or session.created_at,
            )
        )
    PartVersion.objects.bulk_create(rows)


def versions_current(session_id: int) -> dict[str, PartVersion]:
    current: dict[str, PartVersion] = {}
    for version in PartVersion.objects.filter(
        session_id=session_id, status=VersionStatus.SUCCEEDED
    ).order_by("part", "-number"):
        current.setdefault(version.part, version)
    return current


def next_number(session_id: int, part: str) -> int:
    top = PartVersion.objects.filter(session_id=session_id, part=part).aggregate(n=Max("number"))
    return int(top["n"] or 0) + 1


def synthesis_stale(current: dict[str, PartVersion]) -> list[str]:
    """The parts with a newer version than the one the current synthesis read."""
    synthesis = current.get("synthesis")
    if synthesis is None:
        return []
    read = synthesis.based_on or {}
    return [
        key
        for key in INPUT_PARTS
        if key in current and current[key].number > int(read.get(key, 0) or 0)
    ]


PART_LABELS = {"debate": "Debate", "synthesis": "Final video prompt", "shots": "Shot list"}


def part_label(key: str) -> str:
    from roundtable.agents import AGENT_BY_KEY

    agent = AGENT_BY_KEY.get(key)
    return agent.name if agent else PART_LABELS.get(key, key)


def versions_of(session_id: int) -> dict[str, list[PartVersion]]:
    """Every version of each part, the current one first (then the newer unfinished or failed
    ones, then the older ones)."""
    rows = list(
        PartVersion.objects.filter(session_id=session_id)
        .select_related("asked_by")
        .order_by("-number")
    )
    current: dict[str, int] = {}
    for row in rows:
        if row.status == VersionStatus.SUCCEEDED:
            current.setdefault(row.part, row.pk)
    grouped: dict[str, list[PartVersion]] = {}
    for key in RERUN_PARTS:
        mine = [row for row in rows if row.part == key]
        if mine:
            mine.sort(key=lambda row: (row.pk != current.get(key), -row.number))
            for row in mine:
                row.is_current = row.pk == current.get(key)  # type: ignore[attr-defined]
            grouped[key] = mine
    return grouped


def versions_token(session_id: int) -> str:
    """Changes whenever a version is added or ends (the page's section reloads then)."""
    rows = PartVersion.objects.filter(session_id=session_id).values_list("pk", "status")
    return "-".join(f"{pk}{status[0]}" for pk, status in rows.order_by("pk")) or "none"


def latest_rerun(session_id: int) -> Any:
    row = (
        PartVersion.objects.filter(session_id=session_id, run__kind=RERUN_KIND)
        .order_by("-created_at", "-pk")
        .values_list("run_id", flat=True)
        .first()
    )
    return row
