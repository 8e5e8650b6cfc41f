"""Prices of one provider and model, looked up once per attempt so live cost costs nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from asgiref.sync import sync_to_async

from generation.costs.tokens import estimate_prompt_tokens
from generation.providers.base import CompletionRequest, Usage

_PLACES = Decimal("0.000001")
_THOUSAND = 1000


@dataclass(frozen=True, slots=True)
class Prices:
    input_per_1k: Decimal
    output_per_1k: Decimal

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        total = (
            Decimal(input_tokens) * self.input_per_1k + Decimal(output_tokens) * self.output_per_1k
        ) / _THOUSAND
        return total.quantize(_PLACES)


def _lookup(provider: str, model: str) -> Prices:
    from generation.costs import cost_for

    per_input = cost_for(provider, model, Usage(_THOUSAND, 0, True))
    per_output = cost_for(provider, model, Usage(0, _THOUSAND, True))
    return Prices(Decimal(per_input), Decimal(per_output))


async def prices_for(provider: str, model: str) -> Prices:
    return await sync_to_async(_lookup, thread_sensitive=False)(provider, model)


def estimate_input_tokens(request: CompletionRequest) -> int:
    return estimate_prompt_tokens([request.system, *(m.content for m in request.messages)])
