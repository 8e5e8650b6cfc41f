"""The tests' own run kinds: neutral, so the core is tested without a product.

``probe`` streams one prompt (``input["prompt"]``) into its one part ``main`` from the chosen
provider; ``probe_kind(handler, ...)`` declares the same kind with another handler or limits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from generation.chain.policy import provider_choose
from generation.providers.base import CompletionRequest
from generation.runs.context import RunContext
from generation.runs.kinds import Handler, KindSpec, PartSpec
from generation.runs.models import Run
from generation.runs.services import run_start

PROBE_NAME = "probe"


async def probe_handler(ctx: RunContext) -> dict[str, Any]:
    data = ctx.run.input
    await ctx.progress("generating", "Writing the text")
    await ctx.stream_llm(
        CompletionRequest.from_prompt(str(data.get("prompt") or "Write something.")),
        provider=str(data.get("provider") or "openai"),
        model=str(data.get("model") or "") or None,
    )
    return {}


def _main_is_the_run(run_dom_id: str, part: str) -> str:
    return run_dom_id if part == "main" else f"{run_dom_id}-{part}"


PROBE = KindSpec(
    name=PROBE_NAME,
    label="Probe",
    handler=probe_handler,
    parts=(PartSpec("main", "Text"),),
    part_dom_id=_main_is_the_run,
)


def probe_kind(handler: Handler | None = None, **changes: Any) -> KindSpec:
    """The probe kind with another handler and other settings."""
    if handler is not None:
        changes["handler"] = handler
    return replace(PROBE, **changes)


def probe_start(user: Any, project: Any, **fields: Any) -> Run:
    """Start a probe run as an editor of ``project`` (sync)."""
    project, _ = project_for_user(user, project.pk, minimum=Role.EDITOR)
    provider = str(fields.pop("provider", "openai"))
    kind = str(fields.pop("kind", PROBE_NAME))
    choice = provider_choose(provider, fields.get("model") or None)
    return run_start(
        user=user,
        project=project,
        kind=kind,
        input={"prompt": "Write about tides.", "provider": provider, **fields},
        provider_requested=choice.requested,
        provider=choice.provider,
        model=choice.model,
        expected_tokens=30,
    )
