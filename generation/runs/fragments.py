"""HTML of a run for pages and WebSocket messages, from its kind's panel template.

A kind's panel template (``KindSpec.panel``) has the partials ``panel`` (the whole run: the
snapshot and the closing swap) and ``live`` (the panel inside its WebSocket connection); the
partials every panel shares (the stage line, the provider switches, a notice, a part's text)
are in ``templates/runs/fragments.html``.

Live messages are out-of-band fragments for htmx's ws extension: a part's text appended to its
text element (``beforeend``), its metrics block, the stage line and the provider-switch list
swapped by id, and the whole panel swapped (``outerHTML``) for the snapshot and when the run
ends. The two fragments sent many times a second per part, the text append and the metrics
block, are built here in Python (``text_append_html``, ``metrics_html``); the panel templates
include the same metrics block through the ``run_metrics`` tag, so the page and the live view
share one source. Every value is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

from django.template.loader import render_to_string

from aura_site.money import format_estimate, format_usd
from generation.runs.kinds import KindSpec
from generation.runs.models import Run, RunStatus

SHARED = "runs/fragments.html"


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
    correlation_id: str = ""
    """Quoted to people beside an error, so staff can find the run and its cost records."""
    cancelled_by: str = ""
    finished_at: datetime | None = None
    price_assumed: bool = False
    """A call of the run was priced at its provider's default: the model has no price."""
    usage_reported: bool = False
    """Whether the tokens and cost are the provider's own counts (else an estimate, ``≈``)."""

    @property
    def cost_reported(self) -> bool:
        return self.usage_reported and not self.active

    @property
    def active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUBMITTED)

    @property
    def status_label(self) -> str:
        return str(RunStatus(self.status).label)

    @property
    def progress_max(self) -> int:
        if self.status == RunStatus.SUCCEEDED:
            return max(1, self.tokens)
        return self.expected_tokens or 1

    @property
    def progress_value(self) -> int:
        if self.status == RunStatus.SUCCEEDED:
            return max(1, self.tokens)
        return min(self.tokens, self.expected_tokens) if self.expected_tokens else 0

    @property
    def progress_percent(self) -> int:
        if self.status == RunStatus.SUCCEEDED:
            return 100
        if not self.expected_tokens:
            return 0
        return min(100, round(100 * self.tokens / self.expected_tokens))

    @property
    def progress_label(self) -> str:
        if self.active:
            return f"{self.tokens} of ~{self.expected_tokens} tokens"
        return f"{self.tokens} tokens"


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
        correlation_id=run.correlation_id,
        cancelled_by=_username(run.cancelled_by) if run.status == RunStatus.CANCELLED else "",
        finished_at=run.finished_at,
        price_assumed=price_assumed_of(run.attempts),
        usage_reported=run.usage_reported,
    )


def price_assumed_of(attempts: Any) -> bool:
    """Whether any of a run's attempts was priced at its provider's default price."""
    return any(isinstance(a, dict) and a.get("price_assumed") for a in attempts or ())


def _username(user: Any) -> str:
    return str(user.get_username()) if user is not None else ""


def live_metrics_of(view: Any) -> Metrics:
    """The run's metrics while it executes (``view`` is its ``RunContext``)."""
    run = view.run
    _, out, _ = view.usage_totals()
    provider, model = view.current_provider()
    ttft = None
    if run.first_token_at is not None and run.started_at is not None:
        ttft = int((run.first_token_at - run.started_at).total_seconds() * 1000)
    return Metrics(
        status=RunStatus.RUNNING,
        provider=provider,
        model=model,
        tokens=out,
        expected_tokens=run.expected_tokens,
        tokens_per_second=view.live_tokens_per_second(),
        ttft_ms=ttft,
        cost=view.cost_total(),
        expected_cost=run.expected_cost,
        price_assumed=price_assumed_of(run.attempts),
    )


@dataclass(slots=True)
class PartView:
    """A part as a page shows it: its stored columns and its text as of the snapshot."""

    key: str
    label: str
    position: int
    status: str
    status_label: str
    provider: str
    model: str
    text: str
    input_tokens: int
    output_tokens: int
    usage_reported: bool
    cost: Decimal
    progress: int | None
    result: dict[str, Any]
    operation: dict[str, Any]
    error_code: str
    error_message: str
    dom_id: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_active(self) -> bool:
        return self.status in ("waiting", "running", "submitted")


def text_append_html(dom_id: str, content: object) -> str:
    """The fragment that appends ``content`` to the text of the part whose dom id is
    ``dom_id``."""
    return f'<div id="{dom_id}-text" hx-swap-oob="beforeend">{escape(str(content))}</div>'


def _metric(dom_id: str, key: str, name: str, value: str, label: str, extra: str = "") -> str:
    return (
        f'<div class="metric"><b id="{dom_id}-m-{key}" data-metric="{name}">{escape(value)}</b>'
        f"<span>{label}</span>{extra}</div>"
    )


PRICE_ASSUMED_BADGE = (
    ' <span class="badge badge-warn" data-testid="price-assumed" title="The model has no price'
    ' of its own, so its provider&#x27;s default price was used">price assumed</span>'
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
            format_usd(m.cost) if m.cost_reported else format_estimate(m.cost),
            "Cost so far" if m.active else "Cost",
            PRICE_ASSUMED_BADGE if m.price_assumed else "",
        ),
        _metric(
            dom_id, "expected", "expected_cost", format_estimate(m.expected_cost), "Expected cost"
        ),
    ]
    if not m.active:
        duration = f"{m.duration_ms} ms" if m.duration_ms is not None else "—"
        parts.append(_metric(dom_id, "duration", "duration", duration, "Duration"))
    parts.append(
        f'<div class="metric run-progress"><progress id="{dom_id}-progress"'
        f' max="{m.progress_max}" value="{m.progress_value}">{m.progress_percent}%'
        f"</progress><span>{m.progress_label}</span></div></div>"
    )
    return "".join(parts)


# ---- pages and snapshots -----------------------------------------------------------------


def render_panel(spec: KindSpec, context: dict[str, Any]) -> str:
    return render_to_string(f"{spec.panel}#panel", context)


def render_live(spec: KindSpec, context: dict[str, Any]) -> str:
    return render_to_string(f"{spec.panel}#live", context)


def render_notice(run: Run, notice: str, *, error: bool = False, oob: bool = False) -> str:
    return render_to_string(
        f"{SHARED}#notice", {"run": run, "notice": notice, "notice_error": error, "oob": oob}
    )


# ---- live events ---------------------------------------------------------------------------


def render_live_event(view: Any, event: str, data: dict[str, Any], part: str) -> str:
    """The out-of-band fragments that show one live event of a run being executed (``view``
    is its ``RunContext``). Terminal events are shown by a whole-panel swap (the consumer's)."""
    spec: KindSpec = view.spec
    live_part = view.parts.get(part) if part else None
    if live_part is not None and event == live_part.events.chunk:
        content = str(data.get("content", ""))
        if spec.live_text is not None:
            text = live_part.sent_text()
            before = text[: len(text) - len(content)] if content else text
            html = spec.live_text(view, live_part.dom_id, before, content)
        else:
            html = text_append_html(live_part.dom_id, content)
        if view.metrics_due(part):
            html += live_metrics_html(view, part)
        return html
    if spec.live is not None:
        custom = spec.live(view, event, data, part)
        if custom is not None:
            return custom
    return default_live(view, event, data, part)


def live_metrics_html(view: Any, part: str) -> str:
    spec: KindSpec = view.spec
    if spec.live_metrics is not None:
        return spec.live_metrics(view, part)
    return metrics_html(view.run.dom_id, live_metrics_of(view), oob=True)


def default_live(view: Any, event: str, data: dict[str, Any], part: str) -> str:
    """The stage line (and a reset part's text) for the stage event, the switch list for
    ``provider_switch``, the metrics for ``run``; nothing for the rest."""
    spec: KindSpec = view.spec
    run: Run = view.run
    live = hasattr(view, "metrics_due")
    metrics = live_metrics_html(view, part) if live else ""
    if event == spec.stage_event:
        stage = str(data.get("stage", ""))
        html = ""
        if stage == "reset" and "text" in data:
            html += text_replace_html(
                spec.dom_id_of(run.dom_id, part or spec.text_part or ""), data
            )
        if not part:
            label = spec.stage_label(stage, str(data.get("message", "")))
            html += render_to_string(f"{SHARED}#stage", {"run": run, "stage": label, "oob": True})
        return html + metrics
    if event in ("provider_switch", "provider_retry"):
        return render_to_string(f"{SHARED}#switch_oob", {"run": run, "switch": data})
    if event == "run":
        return metrics
    return ""


def text_replace_html(dom_id: str, data: dict[str, Any]) -> str:
    return render_to_string(f"{SHARED}#text_oob", {"dom_id": dom_id, "text": data.get("text", "")})


@dataclass(slots=True)
class StoredView:
    """A run as a viewer that missed live messages rebuilds it from stored events (no live
    metrics: the next live event brings them)."""

    run: Run
    spec: KindSpec


def render_stored_event(
    run: Run, spec: KindSpec, event: str, data: dict[str, Any], part: str
) -> str:
    view = StoredView(run, spec)
    if spec.live is not None:
        custom = spec.live(view, event, data, part)
        if custom is not None:
            return custom
    if part and event == spec.events_of(part).chunk:
        return text_append_html(spec.dom_id_of(run.dom_id, part), data.get("content", ""))
    return default_live(view, event, data, part)
