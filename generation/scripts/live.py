"""A script's live status in the project's lists: "Writing, 40 %" on the project page and in
the scripts list of every member, as the run writes it.

While a script run writes, ``follow_progress`` sends the project's group a ``project.progress``
message at most once a second, and only when the status shown changes: the words written so
far (a token per four characters, the ledger's live estimate) against the tokens the run
expects. The project's consumers render ``render_status`` from the message alone, swapped out of
band into the script's row. The row itself appears, and takes its final state, through the
``project.changed`` messages the script's services send when a run starts and ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.template.loader import render_to_string
from django.urls import reverse

from aura_site.projects import live
from generation.runs.context import estimate_tokens_of_chars
from generation.scripts.models import Script, ScriptStatus
from generation.scripts.selectors import live_runs_of

if TYPE_CHECKING:
    from generation.runs.context import RunContext

logger = logging.getLogger(__name__)

PRODUCT = "scripts"
PROGRESS_INTERVAL_SECONDS = 1.0
"""The most often a run's status is sent to the project's pages."""
STATUS_TEMPLATE = "scripts/status.html#status"
LIST_PAGE_SIZE = 25
"""Scripts on a page of the project's list (the page and its live rows)."""


def percent_of(tokens: int, expected: int) -> int | None:
    """Tokens so far against the expected, 0 to 99 while writing (the end says 100)."""
    if expected <= 0:
        return None
    return max(0, min(99, round(100 * tokens / expected)))


class ProgressTracker:
    """What the rows of a script being written say: the stage ("Writing", "Revising") and the
    percent of the current text."""

    def __init__(self, ctx: RunContext, script_id: int) -> None:
        self.ctx = ctx
        self.script_id = script_id
        self.label = "Writing"
        self._sent: tuple[str, int | None] | None = None

    def status(self) -> dict[str, Any]:
        tokens = estimate_tokens_of_chars(len(self.ctx.text))
        return {
            "script_id": self.script_id,
            "run_id": str(self.ctx.run.pk),
            "label": self.label,
            "percent": percent_of(tokens, self.ctx.run.expected_tokens),
        }

    async def send_if_changed(self) -> None:
        status = self.status()
        shown = (status["label"], status["percent"])
        if shown == self._sent:
            return
        self._sent = shown
        await live.project_progress(self.ctx.run.project_id, PRODUCT, status)

    async def follow(self) -> None:
        """Send the status every ``PROGRESS_INTERVAL_SECONDS`` while it changes, until
        cancelled (the run's end)."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
            try:
                await self.send_if_changed()
            except Exception:
                logger.exception("Could not send the progress of run %s", self.ctx.run.pk)


def status_context(script: Script, percent: int | None, label: str = "Writing") -> dict[str, Any]:
    return {
        "script_id": script.pk,
        "url": script.get_absolute_url(),
        "generating": script.status == ScriptStatus.GENERATING,
        "status": script.status,
        "status_label": script.get_status_display(),
        "label": label,
        "percent": percent,
    }


def with_live_status(scripts: Iterable[Script]) -> list[Script]:
    """The scripts, each with ``live_status``: the context of its status badge (the percent
    of a script being written from its run's last checkpoint)."""
    scripts = list(scripts)
    runs = live_runs_of(scripts)
    for script in scripts:
        run = runs.get(script.pk)
        percent = percent_of(run.output_tokens, run.expected_tokens) if run else None
        script.live_status = status_context(script, percent)  # type: ignore[attr-defined]
    return scripts


def render_status(project_id: int, data: dict[str, Any]) -> str:
    """The out-of-band status badge of a ``project.progress`` message about a script."""
    try:
        script_id = int(data["script_id"])
        percent = data.get("percent")
        percent = None if percent is None else max(0, min(100, int(percent)))
    except (KeyError, TypeError, ValueError):
        return ""
    label = "Revising" if data.get("label") == "Revising" else "Writing"
    context = {
        "script_id": script_id,
        "url": reverse("scripts:detail", args=[project_id, script_id]),
        "generating": True,
        "status": ScriptStatus.GENERATING,
        "status_label": ScriptStatus.GENERATING.label,
        "label": label,
        "percent": percent,
    }
    return render_to_string(STATUS_TEMPLATE, {"s": context, "oob": True})


def register_live_status() -> None:
    live.register_progress_renderer(PRODUCT, render_status)
