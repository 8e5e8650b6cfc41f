"""HTML of a run for pages and WebSocket messages, rendered from ``templates/runs/panel.html``.

Live messages are out-of-band fragments for htmx's ws extension: text appended to the text
element (``beforeend``), the metrics block, the stage line and the provider-switch list swapped
by id, and the whole panel swapped (``outerHTML``) for the snapshot and when the run ends.

The two fragments sent many times a second per run, the text append and the metrics block, are
built here in Python (``text_append_html``, ``metrics_html``); the panel template includes the
same metrics block through the ``run_metrics`` tag, so the page and the live view share one
source. Every value is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from html import escape
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


def text_append_html(dom_id: str, content: object) -> str:
    """The fragment that appends ``content`` to the run's text."""
    return f'<div id="{dom_id}-text" hx-swap-oob="beforeend">{escape(str(content))}</div>'


def _money(value: Decimal) -> str:
    return format(value, "f")


def _metric(dom_id: str, key: str, name: str, value: str, label: str, extra: str = "") -> str:
    return (
        f'<div class="metric"><b id="{dom_id}-m-{key}" data-metric="{name}">{escape(value)}</b>'
        f"<span>{label}</span>{extra}</div>"
    )


def metrics_html(dom_id: str, m: Metrics, *, oob: bool = False) -> str:
    """The metrics block of a run: status, provider, model, tokens, tokens/s, time to first
    token, cost so far, expected cost, duration once ended, and the progress bar against the
    expected length."""
    template_badge = (
        ' <span class="badge badge-warn" title="Written by the offline RuleBased template'
        ' engine, not a language model">Template output</span>'
        if m.provider == "rulebased"
        else ""
    )
    ttft = f"{m.ttft_ms} ms" if m.ttft_ms is not None else "—"
    parts = [
        f'<div id="{dom_id}-metrics" class="metrics run-metrics"',
        ' hx-swap-oob="true">' if oob else ">",
        _metric(dom_id, "status", "status", m.status_label, "Status"),
        _metric(dom_id, "provider", "provider", m.provider or "—", "Provider", template_badge),
        _metric(dom_id, "model", "model", m.model or "—", "Model"),
        _metric(dom_id, "tokens", "tokens", str(m.tokens), "Tokens"),
        _metric(dom_id, "tps", "tokens_per_second", str(m.tokens_per_second), "Tokens/s"),
        _metric(dom_id, "ttft", "ttft", ttft, "First token"),
        _metric(
            dom_id,
            "cost",
            "cost",
            f"${_money(m.cost)}",
            "Cost so far" if m.active else "Cost",
        ),
        _metric(
            dom_id, "expected", "expected_cost", f"${_money(m.expected_cost)}", "Expected cost"
        ),
    ]
    if not m.active:
        duration = f"{m.duration_ms} ms" if m.duration_ms is not None else "—"
        parts.append(_metric(dom_id, "duration", "duration", duration, "Duration"))
    parts.append(
        f'<div class="metric run-progress"><progress id="{dom_id}-progress"'
        f' max="{m.expected_tokens or 1}" value="{m.progress_value}">{m.progress_percent}%'
        f"</progress><span>{m.tokens} of ~{m.expected_tokens} tokens</span></div></div>"
    )
    return "".join(parts)


def render_event(
    run: Run, metrics: Metrics | None, event: str, data: dict[str, Any], dom_id: str = ""
) -> str:
    """The out-of-band fragments that show one live event (terminal events: see consumers).
    A chunk carries the metrics block only when ``metrics`` is given (a few times a second)."""
    dom_id = dom_id or run.dom_id
    if event == "chunk":
        html = text_append_html(dom_id, data.get("content", ""))
        if metrics is not None:
            html += metrics_html(dom_id, metrics, oob=True)
        return html
    base = {"run": run, "m": metrics, "oob": True}
    metrics_block = metrics_html(dom_id, metrics, oob=True) if metrics is not None else ""
    if event == "progress":
        stage = str(data.get("stage", ""))
        label = stage_label(stage, str(data.get("message", "")))
        html = render_to_string(f"{PANEL}#stage", {**base, "stage": label})
        if stage == "reset":
            html += render_to_string(f"{PANEL}#text_oob", {**base, "text": data.get("text", "")})
        return html + metrics_block
    if event == "provider_switch":
        return render_to_string(f"{PANEL}#switch_oob", {**base, "switch": data})
    if event == "run":
        return metrics_block
    return ""
