"""Prices, cost arithmetic (Decimal only) and the append-only ledger.

A price is per 1K input and output tokens (``cost_from_quote``), per second of video or per clip
(``cost_for_quantity``); every cost is rounded half up to the ledger's 8 decimal places.

Sums of the ledger (``ledger_total``, ``run_costs_by_part``, ``run_cost_total``) are exact on
every database: costs are added as whole units of 1e-8 USD, so SQLite's floating-point
arithmetic never touches them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import BigIntegerField, F, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Round
from django.utils import timezone

from aura_site.db import db_sync_to_async
from generation.costs.models import Budget, BudgetHold, CostRecord, Price, Unit
from generation.costs.tokens import estimate_tokens

__all__ = [
    "PriceQuote",
    "PriceTable",
    "acost_record_create",
    "aprice_for",
    "cost_for",
    "cost_for_quantity",
    "cost_from_quote",
    "cost_record_create",
    "estimate_tokens",
    "expected_cost",
    "ledger_total",
    "price_for",
    "run_cost_total",
    "run_costs_by_part",
]

THOUSAND = Decimal(1000)
COST_PLACES = Decimal("0.00000001")
UNITS_PER_USD = 10**8
"""The ledger keeps 8 decimal places: sums are taken in these whole units."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PriceQuote:
    provider: str
    model: str
    input_per_1k: Decimal
    output_per_1k: Decimal
    known: bool
    """False when no price row matched (the cost then counts as 0 and should be flagged)."""
    unit: str = Unit.TOKEN
    amount: Decimal = Decimal(0)
    """USD per second or per clip (``unit`` second or clip); 0 for a per-token price, whose
    token prices are 0 in turn for the other units."""
    assumed: bool = False
    """True when the model has no price row of its own (nor a priced prefix of its name) and
    takes its provider's default (``*``) price, when that is not free: its cost is flagged
    "price assumed"."""


class PriceTable:
    """One provider's prices in effect at one moment, read in one query; ``quote`` resolves a
    model in it as ``price_for`` does (for a caller pricing many models of one provider)."""

    def __init__(self, provider: str, at: datetime | None = None) -> None:
        moment = at or timezone.now()
        self.provider = provider
        rows = (
            Price.objects.filter(provider=provider, effective_from__lte=moment)
            .order_by("model", "-effective_from")
            .values_list("model", "unit", "input_per_1k", "output_per_1k", "amount")
        )
        self._current: dict[str, tuple[str, Decimal | None, Decimal | None, Decimal | None]] = {}
        for name, row_unit, price_in, price_out, amount in rows:
            self._current.setdefault(name, (row_unit, price_in, price_out, amount))

    def quote(self, model: str, *, unit: str | None = None) -> PriceQuote:
        current = self._current
        chosen = current.get(model)
        if chosen is None and model:
            prefixes = [
                name for name in current if name != Price.WILDCARD and model.startswith(name)
            ]
            if prefixes:
                chosen = current[max(prefixes, key=len)]
        assumed = False
        if chosen is None:
            chosen = current.get(Price.WILDCARD)
            # A free provider's "*" row is the price of every model it has: nothing assumed.
            assumed = chosen is not None and any(value for value in chosen[1:] if value)
        if chosen is None or (unit is not None and chosen[0] != unit):
            return PriceQuote(
                self.provider, model, Decimal(0), Decimal(0), known=False, unit=unit or Unit.TOKEN
            )
        row_unit, price_in, price_out, amount = chosen
        return PriceQuote(
            self.provider,
            model,
            _or_zero(price_in),
            _or_zero(price_out),
            known=True,
            unit=row_unit,
            amount=_or_zero(amount),
            assumed=assumed,
        )


def price_for(
    provider: str, model: str, at: datetime | None = None, *, unit: str | None = None
) -> PriceQuote:
    """The price in effect at ``at`` (now by default): the model's own row, else the longest
    priced prefix of its name, else the provider's ``*`` row; in that row's unit.

    With ``unit``, a price in another unit is no price (``known`` False): a video model without
    its own per-second price does not take the provider's per-token ``*`` row, nor an LLM a
    per-clip one."""
    return PriceTable(provider, at).quote(model, unit=unit)


def _or_zero(price: Decimal | None) -> Decimal:
    """A price field of another unit (empty) as 0; a price as stored (``0.000000`` stays)."""
    return Decimal(0) if price is None else price


aprice_for = db_sync_to_async(price_for)


def cost_from_quote(quote: PriceQuote, input_tokens: int, output_tokens: int) -> Decimal:
    """What ``input_tokens`` and ``output_tokens`` cost at a per-token ``quote`` (0 at a quote
    in another unit, which has no token prices)."""
    raw = (
        Decimal(input_tokens) * quote.input_per_1k + Decimal(output_tokens) * quote.output_per_1k
    ) / THOUSAND
    return raw.quantize(COST_PLACES, rounding=ROUND_HALF_UP)


def cost_for_quantity(quote: PriceQuote, quantity: Decimal) -> Decimal:
    """What ``quantity`` seconds of video or clips cost at a per-second or per-clip ``quote``
    (0 at a per-token quote, which has no amount)."""
    if not isinstance(quantity, Decimal):
        raise TypeError(f"a quantity is a Decimal, not {type(quantity).__name__}")
    if quantity < 0:
        raise ValueError(f"a quantity is never negative ({quantity})")
    return (quote.amount * quantity).quantize(COST_PLACES, rounding=ROUND_HALF_UP)


def cost_for(
    provider: str, model: str, input_tokens: int, output_tokens: int, at: datetime | None = None
) -> Decimal:
    return cost_from_quote(
        price_for(provider, model, at, unit=Unit.TOKEN), input_tokens, output_tokens
    )


def expected_cost(
    provider: str,
    model: str,
    *,
    prompt: str = "",
    input_tokens: int | None = None,
    output_tokens: int = 0,
) -> Decimal:
    """The cost before a call: the prompt's estimated tokens (or ``input_tokens``) and the
    expected output tokens (the caller's estimate, e.g. from a word budget)."""
    tokens_in = estimate_tokens(prompt) if input_tokens is None else input_tokens
    return cost_from_quote(price_for(provider, model, unit=Unit.TOKEN), tokens_in, output_tokens)


def _run_key(run_id: Any) -> str:
    return str(run_id or "")[:64]


def cost_record_create(
    *,
    provider: str,
    model: str,
    outcome: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
    reported: bool = False,
    cost: Decimal | None = None,
    user_id: Any = None,
    project_id: Any = None,
    run_id: Any = "",
    part: str = "",
    unit: str = Unit.TOKEN,
    quantity: Decimal | None = None,
    attempt: int = 1,
    error_kind: str = "",
    hold_id: int | None = None,
    correlation_id: str = "",
    price_assumed: bool | None = None,
) -> CostRecord:
    """Write one attempt's record, for ``run_id`` and its ``part`` (``main``, ``director``, a
    video shot). ``reported``: the counts are the provider's own (else estimated). The budget
    hold placed before the call (``hold_id``, or the hold of the same run, part and attempt)
    ends in the same transaction (its actual cost now counts instead), and the budgets it
    falls under are checked for alerts once it commits.

    A token record (``unit`` token) counts tokens and has no ``quantity``; a per-second or
    per-clip record has its ``quantity`` (seconds of video, clips). ``cost`` defaults to the
    counts at the price of that unit in effect now (0 when there is none). ``price_assumed``
    flags a cost taken at the provider's default price because the model has none of its own
    (by default: whether that is so of the price ``cost`` was computed from here)."""
    if unit not in Unit.values:
        raise ValueError(f"unknown unit {unit!r}; one of {', '.join(Unit.values)}")
    if unit == Unit.TOKEN and quantity is not None:
        raise ValueError("a token record counts tokens: it has no quantity")
    if unit != Unit.TOKEN and quantity is None:
        raise ValueError(f"a per-{unit} record needs its quantity")
    input_tokens, output_tokens = max(0, input_tokens), max(0, output_tokens)
    assumed = bool(price_assumed)
    if cost is not None:
        amount = cost
    else:
        quote = price_for(provider, model, unit=unit)
        if quantity is None:
            amount = cost_from_quote(quote, input_tokens, output_tokens)
        else:
            amount = cost_for_quantity(quote, quantity)
        if price_assumed is None:
            assumed = quote.assumed
    settled = Q(pk=hold_id) if hold_id is not None else Q(pk__in=[])
    if run_id:
        settled |= Q(run_id=_run_key(run_id), part=part[:64], attempt=attempt)
    with transaction.atomic():
        holds = BudgetHold.objects.filter(settled)
        if holds.exists():
            # A reservation reads spent and held in two statements: the budgets it checks stay
            # locked while the hold turns into this record, so it never sees neither.
            Budget.objects.covering(
                user_id=user_id, project_id=project_id, provider=provider
            ).lock()
        record = CostRecord.objects.create(
            user_id=user_id,
            project_id=project_id,
            provider=provider,
            model=model[:120],
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=amount,
            reported=reported,
            run_id=_run_key(run_id),
            part=part[:64],
            unit=unit,
            quantity=quantity,
            attempt=attempt,
            outcome=outcome,
            error_kind=error_kind,
            correlation_id=correlation_id[:64],
            price_assumed=assumed,
        )
        holds.delete()
        if amount > 0:
            transaction.on_commit(lambda: _alerts_after(record))
    return record


RecordHook = Callable[[CostRecord], object]
_after_record: list[RecordHook] = []


def after_cost_record(hook: RecordHook) -> RecordHook:
    """Call ``hook(record)`` after each cost record that cost something commits (the budget
    alerts register here)."""
    if hook not in _after_record:
        _after_record.append(hook)
    return hook


def _alerts_after(record: CostRecord) -> None:
    for hook in list(_after_record):
        try:
            hook(record)
        except Exception:
            logger.exception("a hook after cost record %s failed", record.pk)


acost_record_create = db_sync_to_async(cost_record_create)


def _units(field: str = "cost") -> Cast:
    return Cast(Round(F(field) * Value(Decimal(UNITS_PER_USD))), BigIntegerField())


def _usd(units: int | None) -> Decimal:
    return Decimal(int(units or 0)) / UNITS_PER_USD


def exact_sum(rows: QuerySet[Any], field: str) -> Decimal:
    """The sum of a money ``field`` over ``rows``, to the 1e-8 USD, as whole units (never a
    floating-point sum): one aggregate."""
    return _usd(rows.aggregate(units=Sum(_units(field)))["units"])


def ledger_total(records: QuerySet[CostRecord]) -> Decimal:
    """What ``records`` cost together, to the 1e-8 USD: one aggregate."""
    return exact_sum(records, "cost")


def run_costs_by_part(run_id: Any) -> dict[str, Decimal]:
    """Part key -> what the calls of that part of the run cost (``""`` for calls recorded
    without a part), in the order the parts first spent: one grouped query."""
    rows = (
        CostRecord.objects.filter(run_id=_run_key(run_id))
        .values("part")
        .annotate(units=Sum(_units()), first=Min("id"))
        .order_by("first")
    )
    return {row["part"]: _usd(row["units"]) for row in rows}


def run_cost_total(run_id: Any) -> Decimal:
    """What every call of the run cost."""
    return ledger_total(CostRecord.objects.filter(run_id=_run_key(run_id)))
