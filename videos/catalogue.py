"""The video models people choose from: every model each provider of ``VIDEO_PROVIDERS`` serves,
with its category, limits, price (per second or per clip, from the price table) and whether its
provider is configured, with what to configure if not.

A model's ``name`` is what a job asks for (``runway``, ``hunyuan``, ...); names are unique across
providers. The order is the settings' order of providers, then each provider's own order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from generation.costs.models import Unit
from generation.costs.services import PriceQuote, PriceTable, cost_for_quantity
from videos.providers.base import ModelSpec, VideoProvider
from videos.providers.registry import CATEGORIES, category_of, video_providers

CATEGORY_LABELS = {
    "custom": "Custom server",
    "premium": "Premium",
    "free": "Free models",
    "self_hosted": "Self-hosted",
}
CATEGORY_NOTES = {
    "custom": "The studio's own video server; falls back to the free models.",
    "premium": "Paid APIs with the best quality; no fallback to another provider.",
    "free": "Open models through Hugging Face; each falls back to the other free ones.",
    "self_hosted": "A ComfyUI you run; no fallback.",
}


class UnknownVideoModel(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"Unknown video model {name!r}; choose one of: {', '.join(known)}.")


@dataclass(frozen=True, slots=True)
class VideoModel:
    name: str
    label: str
    category: str
    provider: str
    """The provider's alias in ``VIDEO_PROVIDERS``."""
    provider_label: str
    spec: ModelSpec
    configured: bool
    how_to_configure: str
    price: PriceQuote

    @property
    def quality(self) -> str:
        return self.spec.quality

    @property
    def max_duration_seconds(self) -> float:
        return self.spec.max_duration_seconds

    @property
    def price_unit(self) -> str:
        return self.price.unit if self.price.known else Unit.CLIP

    @property
    def price_amount(self) -> Decimal:
        return self.price.amount if self.price.known else Decimal(0)

    @property
    def price_known(self) -> bool:
        return self.price.known

    def duration_for(self, seconds: float) -> float:
        """The duration the model will make for ``seconds`` asked: the nearest it takes."""
        if self.spec.durations:
            return float(min(self.spec.durations, key=lambda d: (abs(d - seconds), -d)))
        return float(min(max(seconds, 1.0), self.spec.max_duration_seconds))

    def cost_for(self, seconds: float) -> Decimal:
        """What a clip of ``seconds`` costs at this model's price (0 without a price)."""
        if not self.price.known:
            return Decimal(0)
        if self.price.unit == Unit.SECOND:
            quantity = Decimal(str(self.duration_for(seconds)))
        else:
            quantity = Decimal(1)
        return cost_for_quantity(self.price, quantity)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "category": self.category,
            "provider": self.provider,
            "quality": self.quality,
            "max_duration_seconds": self.max_duration_seconds,
            "durations": list(self.spec.durations),
            "ratios": list(self.spec.ratios),
            "image_to_video": self.spec.image_to_video,
            "text_to_video": self.spec.text_to_video,
            "price": {"unit": self.price_unit, "amount": str(self.price_amount)},
            "price_known": self.price_known,
            "configured": self.configured,
            "how_to_configure": "" if self.configured else self.how_to_configure,
        }


def how_to_configure(provider: VideoProvider) -> str:
    return provider.how_to_configure or (
        f"Ask staff to configure the {provider.label or provider.alias} video provider "
        f"(admin: Provider credentials → {provider.alias})."
    )


def _price(table: PriceTable, spec: ModelSpec) -> PriceQuote:
    """The model's price in its provider's price table, under the provider-side model id (so
    that two catalogue names for one model share it), per second or per clip."""
    for unit in (Unit.SECOND, Unit.CLIP):
        quote = table.quote(spec.provider_model, unit=unit)
        if quote.known:
            return quote
    return table.quote(spec.provider_model, unit=Unit.CLIP)


def video_models() -> list[VideoModel]:
    """Every model of every video provider, in order (sync: reads prices and credentials)."""
    models: list[VideoModel] = []
    seen: set[str] = set()
    for provider in video_providers():
        category = category_of(provider.alias)
        configured = provider.is_configured()
        table = PriceTable(provider.alias)
        for spec in provider.models():
            if spec.name in seen:
                raise ValueError(f"two video providers serve a model named {spec.name!r}")
            seen.add(spec.name)
            models.append(
                VideoModel(
                    name=spec.name,
                    label=spec.label,
                    category=category,
                    provider=provider.alias,
                    provider_label=provider.label or provider.alias,
                    spec=spec,
                    configured=configured,
                    how_to_configure=how_to_configure(provider),
                    price=_price(table, spec),
                )
            )
    return models


def video_model(name: str) -> VideoModel:
    models = video_models()
    for model in models:
        if model.name == name:
            return model
    raise UnknownVideoModel(name, [m.name for m in models])


def models_by_category(models: list[VideoModel]) -> list[tuple[str, str, str, list[VideoModel]]]:
    """``(category, label, note, models)`` in the catalogue's order of categories."""
    return [
        (category, CATEGORY_LABELS[category], CATEGORY_NOTES[category], group)
        for category in CATEGORIES
        if (group := [m for m in models if m.category == category])
    ]
