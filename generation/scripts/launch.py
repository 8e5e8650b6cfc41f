"""Where the script pages meet providers, costs and runs: provider cards with their badges, the
expected cost of a brief, and starting a script run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied

from aura_site.money import format_usd
from aura_site.projects.models import Membership, Project, Role
from aura_site.projects.selectors import project_for_user
from generation.chain.policy import (
    NoProviderAvailable,
    ProviderChoice,
    provider_choose,
    providers_known,
)
from generation.costs.budgets import budget_period_words, budgets_spent_for, chain_ceiling
from generation.costs.credentials import provider_setup_urls
from generation.costs.services import expected_cost
from generation.costs.tokens import estimate_tokens
from generation.providers.base import ProviderInfo
from generation.providers.transport import prompt_estimate
from generation.runs.models import Run
from generation.runs.selectors import panel_context, run_snapshot
from generation.runs.services import RunDraft, RunLimitExceeded, run_create, run_prepare
from generation.scripts.constants import SCRIPT_KIND
from generation.scripts.guidance import Guidance, script_guidance
from generation.scripts.models import Persona, Script, ScriptTemplate
from generation.scripts.prompt import brief_build, request_build
from generation.scripts.services import (
    cost_ceiling_of,
    script_input_clean,
    script_mark_started,
    script_run_input,
)
from generation.scripts.textutils import count_words

TOKENS_PER_WORD = 4 / 3


class GenerationRefused(Exception):
    """A run could not be started; ``field`` says which form field the message belongs to,
    ``code`` why (``no_provider``, ``provider_not_configured``, ...)."""

    def __init__(self, field: str | None, message: str, code: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class ProviderCard:
    info: ProviderInfo
    setup_url: str = ""
    """For staff, the admin page where a provider that is not set up gets its key."""

    @property
    def latency_label(self) -> str:
        ms = self.info.expected_latency_ms
        return f"~{ms} ms" if ms < 1000 else f"~{ms / 1000:.1f} s"

    @property
    def is_free(self) -> bool:
        return not (self.info.price_per_1k_input or self.info.price_per_1k_output)

    @property
    def is_template(self) -> bool:
        return self.info.name == "rulebased"


def provider_cards(for_user: Any = None) -> list[ProviderCard]:
    """A card per provider; staff who may enter provider keys also get, on each one that is not
    set up, the link to the admin page that sets it up."""
    infos = providers_known()
    links = provider_setup_urls(for_user, [i.name for i in infos if not i.configured])
    return [ProviderCard(info, links.get(info.name, "")) for info in infos]


def expected_output_tokens(words: int) -> int:
    return math.ceil(words * TOKENS_PER_WORD) + 40


@dataclass(frozen=True, slots=True)
class ScriptEstimate:
    """What a script run of a brief is expected to take before it starts: the one estimate the
    form, the run (and so its panel) and the API show."""

    choice: ProviderChoice
    input_tokens: int
    output_tokens: int
    cost: Decimal
    ceiling: Decimal


def script_estimate(
    brief: dict[str, Any],
    provider: str,
    model: str = "",
    *,
    words: int | None = None,
    mode: str = "draft",
    max_cost: Decimal | None = None,
) -> ScriptEstimate:
    """The expected tokens and cost of a run of ``brief`` on the provider ``provider``'s chain
    starts on, and the most its chain may spend (its fallbacks over ``max_cost`` skipped).
    Raises ``NoProviderAvailable`` (and ``ProviderNotConfigured`` for a provider chosen by
    name that is not set up)."""
    request = request_build(brief, mode=mode)  # type: ignore[arg-type]
    words = int(brief.get("word_budget") or 150) if words is None else words
    tokens = expected_output_tokens(words)
    choice = provider_choose(provider or "auto", model or None, require_configured=True)
    prompt = _prompt_of(request)
    return ScriptEstimate(
        choice=choice,
        input_tokens=estimate_tokens(prompt),
        output_tokens=tokens,
        cost=expected_cost(choice.provider, choice.model, prompt=prompt, output_tokens=tokens),
        ceiling=chain_ceiling(
            list(choice.chain),
            choice.model,
            prompt_estimate(request),
            request.max_tokens,
            max_cost=max_cost,
        ),
    )


def _brief_of_form(data: Any, key_points: list[dict[str, str]], project: Project) -> Any:
    """The brief a form being typed would start with (its template and persona looked up in
    the project, ignored while they do not resolve), or None without a usable duration."""
    try:
        duration = int(str(data.get("duration_seconds") or "0"))
    except ValueError:
        return None
    if duration <= 0:
        return None
    slug = str(data.get("template") or "")
    template = ScriptTemplate.objects.filter(slug=slug).first() if slug else None
    persona_id = str(data.get("persona") or "")
    persona = (
        Persona.objects.filter(project=project, pk=int(persona_id)).first()
        if persona_id.isdigit()
        else None
    )
    return brief_build(
        topic=str(data.get("topic") or ""),
        audience=str(data.get("audience") or ""),
        tone=str(data.get("tone") or ""),
        platform=str(data.get("platform") or "youtube"),
        duration_seconds=duration,
        delivery=str(data.get("delivery") or "conversational"),
        key_points=key_points,
        template=template,
        persona=persona,
    )


def spent_budget_notes(
    user: Any, project: Project, chain: list[str], infos: dict[str, ProviderInfo]
) -> list[str]:
    """A sentence for each spending budget with nothing left that covers a paid provider of
    ``chain``, naming the providers whose calls the chain will therefore skip (a budget never
    refuses a free provider)."""
    paid = [
        alias
        for alias in chain
        if alias in infos and (infos[alias].price_per_1k_input or infos[alias].price_per_1k_output)
    ]
    notes = []
    for standing, aliases in budgets_spent_for(
        user_id=getattr(user, "pk", None), project_id=project.pk, providers=paid
    ):
        budget = standing.budget
        names = ", ".join(infos[alias].label for alias in aliases)
        notes.append(
            f"Budget “{budget.label}” is spent: {format_usd(standing.spent + standing.held)} of "
            f"{format_usd(budget.limit_usd)} {budget_period_words(budget)}. Calls to {names} "
            "will be skipped; free providers still answer."
        )
    return notes


def guidance_for(
    data: Any, key_points: list[dict[str, str]], project: Project, user: Any = None
) -> Guidance:
    """Guidance on a brief being typed, with the expected length and cost of the run it would
    start (``script_estimate``, as the run itself is priced), and the spending budgets already
    spent that its chain runs into (with ``user``, the person who would start it)."""
    choice = str(data.get("provider") or "auto")
    model = str(data.get("model") or "")
    infos = {info.name: info for info in providers_known()}
    brief = _brief_of_form(data, key_points, project)
    estimate: ScriptEstimate | None = None
    if brief is not None:
        try:
            estimate = script_estimate(
                brief, choice, model, max_cost=cost_ceiling_of(data.get("max_cost_usd"))
            )
        except NoProviderAvailable:
            estimate = None
    alias = estimate.choice.provider if estimate else ("" if choice == "auto" else choice)
    info = infos.get(choice if choice != "auto" and choice in infos else alias)
    guide = script_guidance(
        dict(data.items()) if hasattr(data, "items") else dict(data),
        key_points,
        info,
        expected_cost=estimate.cost if estimate else None,
        prompt_tokens=estimate.input_tokens if estimate else 0,
    )
    if estimate is not None:
        guide.cost_ceiling = estimate.ceiling
        guide.model = estimate.choice.model
        guide.expected_output_tokens = estimate.output_tokens
        first = infos.get(estimate.choice.provider)
        if choice == "auto" and first is not None:
            guide.provider_label = f"Auto: {first.label} first"
        guide.spent_budgets = spent_budget_notes(user, project, list(estimate.choice.chain), infos)
    return guide


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
    max_cost: Decimal | None = None,
) -> RunDraft:
    """A ``script`` run for a brief, on the provider ``provider``'s chain starts on, with its
    expected length and cost (raises ``GenerationRefused`` for a provider that cannot serve)."""
    try:
        estimate = script_estimate(
            brief, provider, model, words=words, mode=mode, max_cost=max_cost
        )
    except NoProviderAvailable as exc:
        raise GenerationRefused("provider", str(exc), exc.code) from None
    choice = estimate.choice
    return run_prepare(
        user=user,
        project=project,
        kind=SCRIPT_KIND,
        input=input,
        provider_requested=choice.requested,
        provider=choice.provider,
        model=choice.model,
        expected_tokens=estimate.output_tokens,
        expected_cost=estimate.cost,
        cost_ceiling=estimate.ceiling,
        correlation_id=correlation_id,
    )


def script_generate(
    *,
    user: Any,
    script: Script,
    provider: str,
    model: str = "",
    continue_version: int | None = None,
    max_cost_usd: Decimal | None = None,
) -> Any:
    """Start a ``script`` run for ``script`` (a new version, or the continuation of one);
    ``max_cost_usd`` is the cost ceiling for its fallbacks."""
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
            script,
            provider=provider,
            model=model,
            continue_version=continue_version,
            max_cost_usd=max_cost_usd,
        ),
        brief=brief,
        provider=provider,
        model=model,
        words=words,
        mode="continue" if continue_version is not None else "draft",
        max_cost=max_cost_usd,
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
    if data.get("max_cost_usd") is not None:
        stored["max_cost_usd"] = format(Decimal(str(data["max_cost_usd"])), "f")
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
        max_cost=cost_ceiling_of(stored.get("max_cost_usd")),
    )


def run_panel_context(run_id: Any, membership: Membership) -> dict[str, Any] | None:
    """The context of the script run panel (``scripts/run_panel.html#live``) for a script's
    run."""
    if not Run.objects.filter(pk=run_id, project_id=membership.project_id).exists():
        return None
    return panel_context(run_snapshot(run_id), can_edit=membership.can(Role.EDITOR))
