"""Prices of one provider and model, looked up once per attempt so live cost costs nothing."""

from __future__ import annotations

import time
from decimal import Decimal

from asgiref.sync import sync_to_async

from generation.costs.services import PriceQuote, cost_from_quote, price_for
from generation.costs.tokens import estimate_prompt_tokens
from generation.providers.base import CompletionRequest

QUOTE_SECONDS = 60.0
_quotes: dict[tuple[str, str], tuple[float, PriceQuote]] = {}


async def quote_for(provider: str, model: str) -> PriceQuote:
    """The price in effect, looked up at most once a minute per provider and model (a price
    changed in the admin applies to attempts that start after that)."""
    key = (provider, model)
    cached = _quotes.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < QUOTE_SECONDS:
        return cached[1]
    quote = await sync_to_async(price_for, thread_sensitive=False)(provider, model)
    _quotes[key] = (now, quote)
    return quote


def cost(quote: PriceQuote, input_tokens: int, output_tokens: int) -> Decimal:
    return cost_from_quote(quote, input_tokens, output_tokens)


def estimate_input_tokens(request: CompletionRequest) -> int:
    return estimate_prompt_tokens([request.system, *(m.content for m in request.messages)])
