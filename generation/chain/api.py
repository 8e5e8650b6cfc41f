"""``GET /api/v1/providers``: every LLM provider with its characteristics and availability."""

from __future__ import annotations

from typing import Annotated, Literal

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import StringConstraints

from aura_site.api_errors import errors
from aura_site.api_types import enum_schema
from generation.chain.policy import provider_infos
from generation.providers.registry import AUTO

router = Router(tags=["providers"])

ProviderName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=40),
    enum_schema(
        [AUTO, *settings.LLM_PROVIDERS],
        description="`auto` or an LLM provider's `name` from `GET /api/v1/providers`.",
    ),
]
"""A request's ``provider``: listed as an enum in the OpenAPI document; an unknown name is
refused by the service with ``invalid_provider``."""


class ProviderOut(Schema):
    name: Annotated[str, enum_schema(list(settings.LLM_PROVIDERS))]
    label: str
    location: Literal["local", "cloud"]
    tier: Literal["free", "pro", "enterprise"]
    price_per_1k_input: str
    price_per_1k_output: str
    expected_latency_ms: int
    configured: bool
    healthy: bool
    models: list[str]
    supports_streaming: bool
    how_to_configure: str


@router.get(
    "/providers", response={200: list[ProviderOut], **errors()}, summary="List the LLM providers"
)
def providers_list(request: HttpRequest) -> list[ProviderOut]:
    """Prices are USD per 1,000 tokens, as strings (exact decimals). ``healthy`` is cheap: Ollama
    answers ``GET /api/tags`` with the model installed; a cloud provider is configured and its
    circuit is not open."""
    infos = async_to_sync(provider_infos)()
    return [
        ProviderOut(
            name=info.name,
            label=info.label,
            location=info.location,
            tier=info.tier,
            price_per_1k_input=str(info.price_per_1k_input),
            price_per_1k_output=str(info.price_per_1k_output),
            expected_latency_ms=info.expected_latency_ms,
            configured=info.configured,
            healthy=info.healthy,
            models=list(info.models),
            supports_streaming=info.supports_streaming,
            how_to_configure=info.how_to_configure,
        )
        for info in infos
    ]
