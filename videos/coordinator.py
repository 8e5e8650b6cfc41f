"""Which models a job tries, in what order, and what to say when none could make it.

The product's rule (the catalogue's categories):

- a ``custom`` model (the studio's own server) → it, then the free models in the catalogue's
  order (HunyuanVideo → CogVideoX → LTX-Video);
- a ``free`` model → it, then the other free models in that order;
- a ``premium`` model (Runway, Luma) or a ``self_hosted`` one → that model only.

Only models whose provider is configured, and that can make what was asked (text-to-video, or
image-to-video when a start image is given), are tried; the others are kept with why they were
left out, so that a job no model could take fails at once saying what to configure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aura_site.money import plain
from videos.catalogue import VideoModel

FALLBACK_CATEGORIES = ("custom", "free")
"""Categories whose models fall back to the free models."""


def route(chosen: VideoModel, models: list[VideoModel]) -> list[VideoModel]:
    """The chain for a job asking for ``chosen``, before configuration is considered."""
    if chosen.category not in FALLBACK_CATEGORIES:
        return [chosen]
    free = [m for m in models if m.category == "free" and m.name != chosen.name]
    return [chosen, *free]


def attempt_label(candidate: dict[str, Any]) -> str:
    """How an attempt is named: the model and, when it says more, its provider
    (``Gen-4 Turbo (Runway)``, but ``Custom video server`` alone)."""
    label, provider = str(candidate.get("label") or ""), str(candidate.get("provider_label") or "")
    return label if not provider or provider == label else f"{label} ({provider})"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model a job will try, as its steps need it (stored in the run's input, so that a step
    reads no catalogue)."""

    name: str
    label: str
    provider: str
    provider_label: str
    provider_model: str
    duration_seconds: float
    price_unit: str
    price_amount: str
    price_known: bool
    expected_cost: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "provider": self.provider,
            "provider_label": self.provider_label,
            "provider_model": self.provider_model,
            "duration_seconds": self.duration_seconds,
            "price_unit": self.price_unit,
            "price_amount": self.price_amount,
            "price_known": self.price_known,
            "expected_cost": self.expected_cost,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    chosen: VideoModel
    candidates: list[Candidate]
    left_out: list[tuple[VideoModel, str]] = field(default_factory=list)
    """Models of the route that will not be tried, and why (``not configured: …``)."""

    @property
    def configure_hint(self) -> str:
        return configure_hint([model for model, reason in self.left_out if reason == NOT_SET])


NOT_SET = "not configured"


def candidate_of(model: VideoModel, seconds: float) -> Candidate:
    return Candidate(
        name=model.name,
        label=model.label,
        provider=model.provider,
        provider_label=model.provider_label,
        provider_model=model.spec.provider_model,
        duration_seconds=model.duration_for(seconds),
        price_unit=model.price_unit,
        price_amount=str(model.price_amount),
        price_known=model.price_known,
        expected_cost=plain(model.cost_for(seconds)),
    )


def plan(chosen: VideoModel, models: list[VideoModel], *, seconds: float, with_image: bool) -> Plan:
    candidates: list[Candidate] = []
    left_out: list[tuple[VideoModel, str]] = []
    for model in route(chosen, models):
        if not model.configured:
            left_out.append((model, NOT_SET))
        elif with_image and not model.spec.image_to_video:
            left_out.append((model, "makes no video from a start image"))
        elif not with_image and not model.spec.text_to_video:
            left_out.append((model, "needs a start image"))
        else:
            candidates.append(candidate_of(model, seconds))
    return Plan(chosen, candidates, left_out)


def configure_hint(models: list[VideoModel]) -> str:
    """What to configure for ``models``: one line per provider, each named once."""
    seen: dict[str, tuple[str, list[str]]] = {}
    for model in models:
        _, names = seen.setdefault(model.provider, (model.how_to_configure, []))
        names.append(model.label)
    return " ".join(f"For {', '.join(names)}: {how}" for how, names in seen.values())


def nothing_to_try_message(plan: Plan) -> str:
    """A job none of whose models can be tried: which, why, and what to configure."""
    labels = ", ".join(model.label for model, _ in plan.left_out) or plan.chosen.label
    hint = plan.configure_hint
    reasons = "; ".join(f"{model.label} {reason}" for model, reason in plan.left_out)
    message = f"No video provider can make this clip ({labels}): {reasons}."
    return f"{message} {hint}".strip()


def all_failed_message(failures: list[dict[str, Any]], hint: str) -> str:
    """Every model the job tried failed: each one's reason, then what else to configure."""
    tried = "; ".join(
        f"{item.get('label') or item.get('model')}: {item.get('message') or item.get('code')}"
        for item in failures
    )
    message = f"No video could be made. {tried}."
    if hint:
        message += f" To let this job try more models: {hint}"
    return message
