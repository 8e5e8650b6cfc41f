"""Where the script pages meet providers, costs and runs: provider cards with their badges, the
expected cost of a brief, and starting a script run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied

from aura_site.projects.models import Membership, Project, Role
from aura_site.projects.selectors import project_for_user
from generation.chain.policy import (
    NoProviderAvailable,
    provider_choose,
    providers_known,
    resolve_chain,
)
from generation.costs.budgets import chain_ceiling
from generation.costs.services import expected_cost
from generation.costs.tokens import estimate_tokens
from generation.providers.base import ProviderInfo
from generation.providers.transport import prompt_estimate
from generation.runs.models import Run
from generation.runs.selectors import panel_context, run_snapshot
from generation.runs.services import RunDraft, RunLimitExceeded, run_create, run_prepare
from generation.scripts.constants import SCRIPT_KIND
from generation.scripts.guidance import Guidance, script_guidance
from generation.scripts.models import Script
from generation.scripts.prompt import brief_build, request_build
from generation.scripts.services import script_input_clean, script_mark_started, script_run_input
from generation.scripts.textutils import count_words

TOKENS_PER_WORD = 4 / 3


class GenerationRefused(Exception):
    """A run could not be started; ``field`` says which form field the message belongs to."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ProviderCard:
    info: ProviderInfo

    @property
    def price_label(self) -> str:
        if not (self.info.price_per_1k_input or self.info.price_per_1k_output):
            return "$0 per token"
        return (
            f"${self.info.price_per_1k_input.normalize():f} in / "
            f"${self.info.price_per_1k_output.normalize():f} out per 1K tokens"
        )

    @property
    def latency_label(self) -> str:
        ms = self.info.expected_latency_ms
        return f"~{ms} ms" if ms < 1000 else f"~{ms / 1000:.1f} s"

    @property
    def is_template(self) -> bool:
        return self.info.name == "rulebased"


def provider_cards() -> list[ProviderCard]:
    return [ProviderCard(info) for info in providers_known()]


def _first_of_chain(choice: str) -> str:
    try:
        chain = resolve_chain(choice or "auto")
    except ValueError:
        return ""
    return chain[0] if chain else ""


def expected_output_tokens(words: int) -> int:
    return math.ceil(words * TOKENS_PER_WORD) + 40


def guidance_for(data: Any, key_points: list[dict[str, str]], project: Project) -> Guidance:
    """Guidance on a brief being typed, with the expected length and cost on the provider that
    would serve it (Auto: the first of its chain)."""
    choice = str(data.get("provider") or "auto")
    infos = {info.name: info for info in providers_known()}
    alias = _first_of_chain(choice) if choice == "auto" else choice
    info = infos.get(alias)
    try:
        duration = int(str(data.get("duration_seconds") or "0"))
    except ValueError:
        duration = 0
    prompt_tokens = 0
    cost: Decimal | None = None
    ceiling: Decimal | None = None
    if info is not None and duration > 0:
        brief = brief_build(
            topic=str(data.get("topic") or ""),
            audience=str(data.get("audience") or ""),
            tone=str(data.get("tone") or ""),
            platform=str(data.get("platform") or "youtube"),
            duration_seconds=duration,
            delivery=str(data.get("delivery") or "conversational"),
            key_points=key_points,
        )
        request = request_build(brief)
        prompt = "\n".join([request.system, *(m.content for m in request.messages)])
        prompt_tokens = estimate_tokens(prompt)
        model = str(data.get("model") or "") or (info.models[0] if info.models else "")
        cost = expected_cost(
            info.name,
            model,
            input_tokens=prompt_tokens,
            output_tokens=expected_output_tokens(brief["word_budget"]),
        )
        ceiling = _ceiling(choice, model, request)
    guide = script_guidance(
        dict(data.items()) if hasattr(data, "items") else dict(data),
        key_points,
        info,
        expected_cost=cost,
        prompt_tokens=prompt_tokens,
    )
    guide.cost_ceiling = ceiling
    if choice == "auto" and info is not None:
        guide.provider_label = f"Auto: {info.label} first"
    return guide


def _ceiling(choice: str, model: str, request: Any) -> Decimal | None:
    """The most a run of ``request`` on ``choice``'s chain may spend, or None (no provider)."""
    try:
        picked = provider_choose(choice or "auto", model or None)
    except NoProviderAvailable:
        return None
    return chain_ceiling(
        list(picked.chain), picked.model, prompt_estimate(request), request.max_tokens
    )


def _prompt_of(request: Any) -> str:
    return "\n".join([request.system, *(m.content for m in request.messages)])


def script_draft(
    *,
    user: Any,
    project: Project,
    input: dict[str, Any],
    brief: dict[str, Any],
    provider: str,
    model: str = "",
    words: int | None = None,
    mode: str = "draft",
    correlation_id: str = "",
) -> RunDraft:
    """A ``script`` run for a brief, on the provider ``provider``'s chain starts on, with its
    expected length and cost (raises ``GenerationRefused`` for a provider that cannot serve)."""
    request = request_build(brief, mode=mode)  # type: ignore[arg-type]
    words = int(brief.get("word_budget") or 150) if words is None else words
    tokens = expected_output_tokens(words)
    try:
        choice = provider_choose(provider or "auto", model or None)
    except NoProviderAvailable as exc:
        raise GenerationRefused("provider", str(exc)) from None
    return run_prepare(
        user=user,
        project=project,
        kind=SCRIPT_KIND,
        input=input,
        provider_requested=choice.requested,
        provider=choice.provider,
        model=choice.model,
        expected_tokens=tokens,
        expected_cost=expected_cost(
            choice.provider, choice.model, prompt=_prompt_of(request), output_tokens=tokens
        ),
        cost_ceiling=chain_ceiling(
            list(choice.chain), choice.model, prompt_estimate(request), request.max_tokens
        ),
        correlation_id=correlation_id,
    )


def script_generate(
    *,
    user: Any,
    script: Script,
    provider: str,
    model: str = "",
    continue_version: int | None = None,
) -> Any:
    """Start a ``script`` run for ``script`` (a new version, or the continuation of one)."""
    brief = script.brief
    words = int(brief.get("word_budget") or 150)
    if continue_version is not None:
        version = script.versions.filter(number=continue_version).first()
        if version is None:
            raise GenerationRefused(None, "That version no longer exists.")
        words = max(20, words - count_words(version.text))
    draft = script_draft(
        user=user,
        project=script.project,
        input=script_run_input(
            script, provider=provider, model=model, continue_version=continue_version
        ),
        brief=brief,
        provider=provider,
        model=model,
        words=words,
        mode="continue" if continue_version is not None else "draft",
    )
    try:
        run = run_create(draft)
    except RunLimitExceeded as exc:
        raise GenerationRefused(None, exc.message) from None
    except PermissionDenied as exc:
        raise GenerationRefused(None, str(exc) or "You can't start runs here.") from None
    script_mark_started(script, run.pk, user)
    return run


def script_run_prepare(user: Any, data: dict[str, Any], *, correlation_id: str = "") -> RunDraft:
    """Check a script request (../shared/API.md §3) for an editor or owner of its project: the
    run's draft, its input as stored in ``run.input``. Raises ``ValidationError`` (a field's
    problem) or ``GenerationRefused`` (the provider)."""
    project, _ = project_for_user(user, data["project"], minimum=Role.EDITOR)
    cleaned = script_input_clean(project, data)
    stored = {key: value for key, value in data.items() if value is not None}
    for key in (
        "topic",
        "audience",
        "tone",
        "platform",
        "duration_seconds",
        "key_points",
        "delivery",
    ):
        stored[key] = cleaned[key]
    stored["provider"] = str(data.get("provider") or "auto")
    brief = brief_build(
        topic=cleaned["topic"],
        audience=cleaned["audience"],
        tone=cleaned["tone"],
        platform=cleaned["platform"],
        duration_seconds=cleaned["duration_seconds"],
        delivery=cleaned["delivery"],
        key_points=cleaned["key_points"],
        template=cleaned["template"],
        persona=cleaned["persona"],
    )
    return script_draft(
        user=user,
        project=project,
        input=stored,
        brief=brief,
        provider=stored["provider"],
        model=str(stored.get("model") or ""),
        correlation_id=correlation_id,
    )


def run_panel_context(run_id: Any, membership: Membership) -> dict[str, Any] | None:
    """The context of the script run panel (``scripts/run_panel.html#live``) for a script's
    run."""
    if not Run.objects.filter(pk=run_id, project_id=membership.project_id).exists():
        return None
    return panel_context(run_snapshot(run_id), can_edit=membership.can(Role.EDITOR))
