"""The ``script`` run kind: one part, ``main``, whose text is the script being written."""

from __future__ import annotations

from typing import Any

from generation.runs.kinds import DoneInfo, KindSpec, PartSpec, register
from generation.scripts.constants import SCRIPT_KIND
from generation.scripts.panel import live, live_text, script_panel_context
from generation.scripts.pipeline import script_handler
from generation.scripts.services import script_run_ended

STAGE_LABELS = {
    "loading_persona": "Loading the persona",
    "generating": "Writing",
    "validating": "Checking the script",
    "saving": "Saving",
    "revising": "Revising",
    "reset": "Revising",
}


def script_done_fields(info: DoneInfo) -> dict[str, Any]:
    """``done`` of a script run (../shared/API.md, "SSE events of a run")."""
    extra = dict(info.extra)
    data = {
        "run_id": info.run_id,
        "script_id": extra.pop("script_id", None),
        "text": info.text,
        "provider": info.provider,
        "model": info.model,
        "usage": info.usage,
        "cost": info.cost,
        "ttft_ms": info.ttft_ms,
        "tokens_per_second": info.tokens_per_second,
        "duration_ms": info.duration_ms,
        "validation": extra.pop("validation", None),
    }
    data.update(extra)
    return data


def _main_is_the_run(run_dom_id: str, part: str) -> str:
    """The script's one part is shown as the run itself (``run-<id>-text``)."""
    return run_dom_id if part == "main" else f"{run_dom_id}-{part}"


SCRIPT = KindSpec(
    name=SCRIPT_KIND,
    label="Script",
    panel="scripts/run_panel.html",
    handler=script_handler,
    parts=(PartSpec("main", "Script"),),
    text_part="main",
    stage_labels=STAGE_LABELS,
    done_fields=script_done_fields,
    on_end=script_run_ended,
    part_dom_id=_main_is_the_run,
    live=live,
    live_text=live_text,
    panel_context=script_panel_context,
)


def register_script_kind() -> None:
    register(SCRIPT)
