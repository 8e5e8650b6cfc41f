"""Prices of one provider and model, looked up once per attempt so live cost costs nothing."""

from __future__ import annotations

from decimal import Decimal

from asgiref.sync import sync_to_async

from generation.costs.services import PriceQuote, cost_from_quote, price_for
from generation.costs.tokens import estimate_prompt_tokens
from generation.providers.base import CompletionRequest


async def quote_for(provider: str, model: str) -> PriceQuote:
    return await sync_to_async(price_for, thread_sensitive=False)(provider, model)


def cost(quote: PriceQuote, input_tokens: int, output_tokens: int) -> Decimal:
    return cost_from_quote(quote, input_tokens, output_tokens)


def estimate_input_tokens(request: CompletionRequest) -> int:
    return estimate_prompt_tokens([request.system, *(m.content for m in request.messages)])
