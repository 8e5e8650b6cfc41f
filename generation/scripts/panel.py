"""The script run's panel: its text drawn as the saved script is (one renderer, live and
saved), and how a run that has ended reads in one line.

While a run writes, each chunk of text is shown by re-drawing only the section it lands in
(``live_text``): the sections before it cannot change, so the fragment stays small however long
the script grows. A heading that turns up mid-stream becomes a heading at once, exactly as the
saved view draws it. When the run ends, ``outcome_of`` gives the one headline the panel, its
summary line and its live region say ("Done, needs review: 3 checks"), and for a failure one
sentence a person can act on, with what Continue and Try another provider need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.template.defaultfilters import linebreaksbr
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from aura_site.money import format_estimate, format_usd
from generation.providers.registry import all_providers
from generation.runs.fragments import default_live
from generation.runs.models import Run, RunStatus
from generation.scripts.constants import DEFAULT_DELIVERY, DELIVERY_BY_SLUG
from generation.scripts.models import Script, ScriptStatus, ScriptVersion
from generation.scripts.textutils import split_sections
from generation.scripts.timing import TimingRow, clock, timing_table

TEXT_TEMPLATE = "scripts/script_text.html"

REASONS = {
    "auth": "its key was refused",
    "quota": "its quota is used up",
    "rate_limit": "rate-limited",
    "overloaded": "overloaded",
    "bad_request": "it refused the request",
    "content_filter": "its content filter",
    "timeout": "it timed out",
    "stream_timeout": "the time limit",
    "network": "the connection broke",
    "unavailable": "server error",
    "truncated": "the stream was cut off",
    "budget": "the budget is spent",
}


def words_per_minute_of(run: Run) -> int:
    delivery = str((run.input or {}).get("delivery") or DEFAULT_DELIVERY)
    style = DELIVERY_BY_SLUG.get(delivery) or DELIVERY_BY_SLUG[DEFAULT_DELIVERY]
    return style.words_per_minute


def text_rows(text: str, words_per_minute: int) -> list[TimingRow]:
    return timing_table(text, words_per_minute) if text.strip() else []


def text_html(dom_id: str, text: str, words_per_minute: int, *, oob: bool = False) -> str:
    """The whole text element of a run, its sections drawn as the saved script's."""
    context = {"dom_id": dom_id, "rows": text_rows(text, words_per_minute), "oob": oob}
    return render_to_string(f"{TEXT_TEMPLATE}#live_text", context)


def _section_html(dom_id: str, index: int, row: TimingRow, *, oob: bool) -> str:
    context = {"dom_id": dom_id, "index": index, "row": row, "oob": oob}
    return render_to_string(f"{TEXT_TEMPLATE}#section", context)


def live_text(view: Any, dom_id: str, before: str, content: str) -> str:
    """The script kind's ``live_text``: the section the new text lands in is drawn again (by
    id), the sections it starts are appended; anything else (a heading line that stopped being
    one) re-draws the whole text."""
    wpm = words_per_minute_of(view.run)
    after = before + content
    old, new = split_sections(before), split_sections(after)
    keep = max(0, len(old) - 1)
    if len(new) < len(old) or old[:keep] != new[:keep]:
        return text_html(dom_id, after, wpm, oob=True)
    html = []
    if old and old[keep] != new[keep]:
        grown = new[keep].body[len(old[keep].body) :]
        if new[keep].title == old[keep].title and new[keep].body.startswith(old[keep].body):
            # The section only grew: its new words are appended to its body, so a fragment
            # stays the size of the chunk however long the section gets.
            html.append(
                f'<span id="{dom_id}-s{keep}-body" hx-swap-oob="beforeend">'
                f"{linebreaksbr(grown, autoescape=True)}</span>"
            )
        else:
            html.append(_section_html(dom_id, keep, text_rows(after, wpm)[keep], oob=True))
    if len(new) == len(old):
        return "".join(html)
    rows = text_rows(after, wpm)
    added = "".join(
        _section_html(dom_id, index, rows[index], oob=False) for index in range(len(old), len(new))
    )
    if added:
        html.append(f'<div id="{dom_id}-text" hx-swap-oob="beforeend">{added}</div>')
    return "".join(html)


def live(view: Any, event: str, data: dict[str, Any], part: str) -> str | None:
    """A revision's reset re-draws the text as sections; every other event is the core's."""
    if event != view.spec.stage_event or data.get("stage") != "reset" or "text" not in data:
        return None
    run: Run = view.run
    dom_id = view.spec.dom_id_of(run.dom_id, part or "main")
    rest = {key: value for key, value in data.items() if key != "text"}
    html = text_html(dom_id, str(data["text"]), words_per_minute_of(run), oob=True)
    return html + default_live(view, event, rest, part)


# ---- a run that has ended ----------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """How an ended script run reads: one headline, never contradicting the script's own
    validation, and for a failure one sentence with what the user can do next."""

    headline: str
    tone: str
    """``ok``, ``warn`` or ``bad``: the badge and message style."""
    summary: list[str]
    announcement: str
    sentence: str = ""
    detail: str = ""
    continue_url: str = ""
    """Where Continue posts (the unfinished version the run left); empty without text."""
    continue_provider: str = ""
    retry_url: str = ""
    """Where Try another provider posts: continue the partial text, or write again."""
    alternatives: list[tuple[str, str]] = field(default_factory=list)


def _labels() -> dict[str, tuple[str, bool]]:
    """Each provider's label and whether it is set up."""
    return {
        provider.alias: (provider.label or provider.alias, provider.is_configured())
        for provider in all_providers()
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _failing_checks(version: ScriptVersion | None) -> int:
    checks = (version.validation or {}).get("checks") or [] if version else []
    failing = [c for c in checks if not c.get("passed")]
    required = [c for c in failing if c.get("required", True)]
    return len(required or failing)


def failure_sentence(run: Run, label: str) -> str:
    """ "OpenAI stopped after 5 tokens (server error). The partial text is kept." """
    kept = bool(run.text.strip())
    if run.status == RunStatus.INTERRUPTED:
        head = f"The studio stopped while {label} was writing"
        tail = f" (after {_plural(run.output_tokens, 'token')})" if kept else ""
        return f"{head}{tail}." + (" The partial text is kept." if kept else "")
    reason = REASONS.get(run.error_code, run.error_code.replace("_", " ") or "an error")
    if kept:
        tokens = _plural(run.output_tokens, "token")
        return f"{label} stopped after {tokens} ({reason}). The partial text is kept."
    return f"{label} could not write this script ({reason})."


def _summary(run: Run) -> list[str]:
    cost = format_usd(run.cost) if run.usage_reported else format_estimate(run.cost)
    parts = [
        _plural(run.output_tokens, "token"),
        f"{run.tokens_per_second} tokens/s",
        f"first token {run.ttft_ms} ms" if run.ttft_ms is not None else "",
        cost,
    ]
    return [part for part in parts if part]


def outcome_of(run: Run) -> Outcome | None:
    if run.is_active:
        return None
    script = Script.objects.filter(project_id=run.project_id, last_run_id=run.pk).first()
    version = (
        ScriptVersion.objects.filter(run_id=run.pk).order_by("-number").first()
        if script is not None
        else None
    )
    summary = _summary(run)
    status = run.status
    if status == RunStatus.SUCCEEDED:
        needs_review = script is not None and script.status == ScriptStatus.NEEDS_REVIEW
        if needs_review:
            checks = _failing_checks(version)
            headline = f"Done, needs review: {_plural(checks, 'check')}" if checks else ""
            headline = headline or "Done, needs review"
            tone = "warn"
        else:
            headline, tone = "Done", "ok"
        return Outcome(headline, tone, summary, f"{headline}. {', '.join(summary)}.")
    if status == RunStatus.CANCELLED:
        headline = "Cancelled"
        return Outcome(headline, "warn", summary, f"{headline}. {', '.join(summary)}.")
    labels = _labels()
    label = labels.get(run.provider, (run.provider or "The provider", False))[0]
    sentence = failure_sentence(run, label)
    headline = "Failed" if status == RunStatus.FAILED else "Interrupted"
    detail = f"{run.error_code}: {run.error_message}" if run.error_message else run.error_code
    outcome = Outcome(headline, "bad", summary, f"{headline}. {sentence}", sentence, detail)
    if script is None:
        return outcome
    if version is not None and not version.complete:
        outcome.continue_url = reverse(
            "scripts:continue", args=[script.project_id, script.pk, version.number]
        )
        outcome.continue_provider = run.provider or "auto"
        outcome.retry_url = outcome.continue_url
    else:
        outcome.retry_url = reverse("scripts:regenerate", args=[script.project_id, script.pk])
    outcome.alternatives = [
        (alias, name) for alias, (name, ready) in labels.items() if ready and alias != run.provider
    ]
    return outcome


def script_panel_context(snapshot: Any) -> dict[str, Any]:
    """The script kind's ``panel_context``: the text as sections, and once the run has ended,
    its outcome."""
    run: Run = snapshot.run
    since = run.started_at or run.queued_at
    return {
        "text_rows": text_rows(snapshot.text, words_per_minute_of(run)),
        "outcome": outcome_of(run),
        "streaming": settings.AURA_STREAMING_ENABLED,
        "elapsed": clock((timezone.now() - since).total_seconds()) if since else "0:00",
    }
