"""The video kind's live fragments and panel context.

Live fragments come from each event's data alone (a consumer renders them on its event loop,
and a viewer rebuilding from stored events must draw the same): an attempt's row when it
starts or fails, the progress bar and the status line. The terminal event swaps the whole panel
(the consumer's), which then shows the player, the metadata or the error.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from generation.runs.models import Run
from videos.coordinator import attempt_label
from videos.models import JobStatus, VideoJob

PANEL = "videos/panel.html"
ATTEMPT_LABELS = {
    "waiting": "Submitting",
    "submitted": "Waiting at the provider",
    "running": "Rendering",
    "succeeded": "Made the clip",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def _label_of(run: Run, model: str) -> str:
    for candidate in run.input.get("candidates") or []:
        if candidate.get("name") == model:
            return attempt_label(candidate)
    return model


def job_progress(status: str, percent: int | None) -> dict[str, Any]:
    """The job's status as its panel shows it: the status, the percent and the label the
    project's list uses for the same job."""
    return {"status": status, "percent": percent, "label": JobStatus(status).label}


def video_live(view: Any, event: str, data: dict[str, Any], part: str) -> str | None:
    run: Run = view.run
    context: dict[str, Any] = {"run": run, "oob": True}
    if event == "attempt_start":
        attempt = {
            "key": part,
            "number": data.get("attempt"),
            "label": _label_of(run, str(data.get("model", ""))),
            "status": "waiting",
            "status_label": ATTEMPT_LABELS["waiting"],
        }
        html = render_to_string(f"{PANEL}#attempt_oob", {**context, "attempt": attempt})
        html += render_to_string(
            f"{PANEL}#progress",
            {**context, "progress": job_progress(JobStatus.QUEUED, None), "line": ""},
        )
        return html
    if event == "progress":
        percent = data.get("percent")
        status = JobStatus.RUNNING if percent is not None else JobStatus.SUBMITTED
        shown = "running" if percent is not None else "submitted"
        return render_to_string(
            f"{PANEL}#progress",
            {
                **context,
                "progress": job_progress(status, percent),
                "line": str(data.get("message") or ""),
                "attempt": {"key": part, "status": shown, "status_label": ATTEMPT_LABELS[shown]},
            },
        )
    if event == "attempt_failed":
        attempt = {
            "key": part,
            "number": data.get("attempt"),
            "label": _label_of(run, str(data.get("model", ""))),
            "status": "failed",
            "status_label": ATTEMPT_LABELS["failed"],
            "code": data.get("code", ""),
            "reason": data.get("message", ""),
        }
        return render_to_string(f"{PANEL}#attempt", {**context, "attempt": attempt})
    if event == "provider_switch":
        return render_to_string(
            f"{PANEL}#progress",
            {
                **context,
                "progress": job_progress(JobStatus.QUEUED, None),
                "line": f"Trying {_label_of(run, str(data.get('to', '')))} next",
            },
        )
    if event == "run":
        return ""
    return None


def attempt_rows(snapshot: Any) -> list[dict[str, Any]]:
    rows = []
    for row in snapshot.parts:
        status = str(row.status)
        rows.append(
            {
                "key": row.key,
                "number": (row.result or {}).get("attempt"),
                "label": row.label,
                "status": status,
                "status_label": ATTEMPT_LABELS.get(status, status),
                "code": row.error_code,
                "reason": row.error_message,
                "cost": row.cost,
                "progress": row.progress,
            }
        )
    return rows


def video_panel_context(snapshot: Any) -> dict[str, Any]:
    run: Run = snapshot.run
    job = VideoJob.objects.filter(run=run).select_related("project").first()
    active = [row for row in attempt_rows(snapshot) if row["status"] in ("submitted", "running")]
    percent = active[-1]["progress"] if active else None
    status = job.status if job is not None else JobStatus.QUEUED
    return {
        "job": job,
        "attempts": attempt_rows(snapshot),
        "progress": job_progress(status, percent),
        "line": snapshot.stage_label if run.is_active else "",
        "left_out": run.input.get("left_out") or [],
    }
