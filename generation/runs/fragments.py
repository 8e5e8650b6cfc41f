"""HTML of a run for pages and WebSocket messages, rendered from ``templates/runs/panel.html``.

Live messages are out-of-band fragments for htmx's ws extension: text appended to the text
element (``beforeend``), the metrics block, the stage line and the provider-switch list swapped
by id, and the whole panel swapped (``outerHTML``) for the snapshot and when the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string

from generation.runs.models import Run, RunStatus

PANEL = "runs/panel.html"

_STAGE_LABELS = {
    "loading_persona": "Loading the persona",
    "generating": "Writing",
    "validating": "Checking the script",
    "saving": "Saving",
    "revising": "Revising",
    "reset": "Revising",
}


@dataclass(slots=True)
class Metrics:
    status: str
    provider: str
    model: str
    tokens: int
    expected_tokens: int
    tokens_per_second: float
    ttft_ms: int | None
    cost: Decimal
    expected_cost: Decimal
    duration_ms: int | None = None
    error_code: str = ""
    error_message: str = ""

    @property
    def active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def status_label(self) -> str:
        return str(RunStatus(self.status).label)

    @property
    def progress_value(self) -> int:
        return min(self.tokens, self.expected_tokens) if self.expected_tokens else 0

    @property
    def progress_percent(self) -> int:
        if not self.expected_tokens:
            return 0
        return min(100, round(100 * self.tokens / self.expected_tokens))


def metrics_of(run: Run) -> Metrics:
    return Metrics(
        status=run.status,
        provider=run.provider,
        model=run.model,
        tokens=run.output_tokens,
        expected_tokens=run.expected_tokens,
        tokens_per_second=run.tokens_per_second,
        ttft_ms=run.ttft_ms,
        cost=run.cost,
        expected_cost=run.expected_cost,
        duration_ms=run.duration_ms if not run.is_active else None,
        error_code=run.error_code,
        error_message=run.error_message,
    )


def stage_label(stage: str, message: str) -> str:
    return message or _STAGE_LABELS.get(stage, stage)


def panel_context(
    run: Run,
    *,
    text: str,
    switches: list[dict[str, Any]],
    stage: str = "",
    can_edit: bool = False,
    notice: str = "",
) -> dict[str, Any]:
    return {
        "run": run,
        "m": metrics_of(run),
        "text": text,
        "switches": switches,
        "stage": stage,
        "can_edit": can_edit,
        "notice": notice,
    }


def render_panel(context: dict[str, Any]) -> str:
    return render_to_string(f"{PANEL}#panel", context)


def render_live(context: dict[str, Any]) -> str:
    return render_to_string(f"{PANEL}#live", context)


def render_notice(run: Run, notice: str, *, error: bool = False, oob: bool = False) -> str:
    return render_to_string(
        f"{PANEL}#notice", {"run": run, "notice": notice, "notice_error": error, "oob": oob}
    )


def render_event(run: Run, metrics: Metrics | None, event: str, data: dict[str, Any]) -> str:
    """The out-of-band fragments that show one live event (terminal events: see consumers).
    A chunk carries the metrics block only when ``metrics`` is given (a few times a second)."""
    base = {"run": run, "m": metrics, "oob": True}
    if event == "chunk":
        html = render_to_string(
            f"{PANEL}#text_append", {**base, "content": data.get("content", "")}
        )
        if metrics is not None:
            html += render_to_string(f"{PANEL}#metrics", base)
        return html
    if event == "progress":
        stage = str(data.get("stage", ""))
        label = stage_label(stage, str(data.get("message", "")))
        html = render_to_string(f"{PANEL}#stage", {**base, "stage": label})
        if stage == "reset":
            html += render_to_string(f"{PANEL}#text_oob", {**base, "text": data.get("text", "")})
        return html + render_to_string(f"{PANEL}#metrics", base)
    if event == "provider_switch":
        return render_to_string(f"{PANEL}#switch_oob", {**base, "switch": data})
    if event == "run":
        return render_to_string(f"{PANEL}#metrics", base)
    return ""
