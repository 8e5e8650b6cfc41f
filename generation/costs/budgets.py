"""Spending budgets, checked before a provider call is dispatched.

``budget_check`` sums the ledger (``CostRecord.cost``) over each active budget that covers a
call, in the budget's current period (the UTC calendar day or month, or all time), and refuses
the call with ``BudgetExceeded`` when what was spent plus the call's expected cost would go over
the limit. The checks take plain numbers (token counts, an expected cost), so they serve any
caller; the LLM chain turns a refusal into its own ``quota`` error.

A call expected to cost nothing never breaks a budget: a budget already overshot (two calls
checked at once, or an input estimate below the provider's count) must not stop the free
providers, which is what lets Auto mode still answer when the paid ones are out of budget.

Sums are exact on every database: ``generation.costs.services.ledger_total`` adds costs as
whole units of 1e-8 USD (the ledger's precision), so SQLite's floating-point arithmetic never
touches them.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Q, QuerySet
from django.utils import timezone

from generation.costs.models import Budget, CostRecord, Unit
from generation.costs.services import PriceQuote, cost_from_quote, ledger_total, price_for

__all__ = [
    "BudgetExceeded",
    "abudget_check",
    "abudget_check_call",
    "budget_check",
    "budget_check_call",
    "budget_spent",
    "budgets_applicable",
    "call_expected_cost",
    "period_bounds",
    "usd",
]


class BudgetExceeded(Exception):
    """A call would take a budget over its limit (or cannot be priced while budgets apply).

    ``message`` names the budget, what it has spent in its period, its limit and what the call
    may cost; ``provider`` is the provider the call was for.
    """

    def __init__(
        self,
        message: str,
        *,
        budget: Budget,
        spent: Decimal,
        expected_cost: Decimal,
        provider: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.budget = budget
        self.spent = spent
        self.expected_cost = expected_cost


def usd(amount: Decimal) -> str:
    """An amount for people: at least cents, every significant digit of the ledger's 8."""
    exact = amount.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP).normalize()
    if exact.as_tuple().exponent > -2:  # type: ignore[operator]
        exact = exact.quantize(Decimal("0.01"))
    return format(exact, "f")


def period_bounds(
    period: str, now: datetime.datetime
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """[start, end) of the UTC calendar day or month holding ``now``; (None, None) for total."""
    moment = now.astimezone(datetime.UTC)
    if period == Budget.Period.DAY:
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + datetime.timedelta(days=1)
    if period == Budget.Period.MONTH:
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if start.month == 12:
            return start, start.replace(year=start.year + 1, month=1)
        return start, start.replace(month=start.month + 1)
    return None, None


def budgets_applicable(*, user_id: Any, project_id: Any, provider: str) -> list[Budget]:
    """The active budgets that cover a call by ``user_id`` in ``project_id`` to ``provider``."""
    covers = Q(scope=Budget.Scope.GLOBAL)
    if project_id is not None:
        covers |= Q(scope=Budget.Scope.PROJECT, project_id=project_id)
    if user_id is not None:
        covers |= Q(scope=Budget.Scope.USER, user_id=user_id)
    return list(
        Budget.objects.filter(covers, Q(provider="") | Q(provider=provider), active=True)
        .select_related("project", "user")
        .order_by("id")
    )


def _records(budget: Budget, now: datetime.datetime) -> QuerySet[CostRecord]:
    records = CostRecord.objects.all()
    if budget.scope == Budget.Scope.PROJECT:
        records = records.filter(Q(project_id=budget.project_id))
    elif budget.scope == Budget.Scope.USER:
        records = records.filter(Q(user_id=budget.user_id))
    if budget.provider:
        records = records.filter(provider=budget.provider)
    start, end = period_bounds(budget.period, now)
    if start is not None and end is not None:
        records = records.filter(created_at__gte=start, created_at__lt=end)
    return records


def budget_spent(budget: Budget, now: datetime.datetime | None = None) -> Decimal:
    """What the calls ``budget`` covers cost in its period holding ``now``: one aggregate."""
    return ledger_total(_records(budget, now or timezone.now()))


def _period_words(budget: Budget) -> str:
    return {
        Budget.Period.DAY: "today (UTC)",
        Budget.Period.MONTH: "this month (UTC)",
    }.get(Budget.Period(budget.period), "in total")


def _check(
    budgets: list[Budget], provider: str, expected_cost: Decimal, now: datetime.datetime
) -> None:
    for budget in budgets:
        spent = budget_spent(budget, now)
        if spent + expected_cost > budget.limit_usd:
            message = (
                f"budget “{budget.label}” would be exceeded: {usd(spent)} USD spent "
                f"{_period_words(budget)} of its {usd(budget.limit_usd)} USD limit, and this "
                f"{provider} call may cost up to {usd(expected_cost)} USD"
            )
            raise BudgetExceeded(
                message,
                budget=budget,
                spent=spent,
                expected_cost=expected_cost,
                provider=provider,
            )


def budget_check(
    *,
    user_id: Any,
    project_id: Any,
    provider: str,
    expected_cost: Decimal,
    now: datetime.datetime | None = None,
) -> None:
    """Raise ``BudgetExceeded`` when a call expected to cost ``expected_cost`` would take any
    budget covering it over its limit (spent + expected > limit; reaching it exactly is
    allowed). One query for the budgets, then one aggregate per budget that applies."""
    if expected_cost <= 0:
        return
    budgets = budgets_applicable(user_id=user_id, project_id=project_id, provider=provider)
    if budgets:
        _check(budgets, provider, expected_cost, now or timezone.now())


def _expected(quote: PriceQuote, input_tokens: int, max_output_tokens: int) -> Decimal:
    return cost_from_quote(quote, max(0, input_tokens), max(0, max_output_tokens))


def call_expected_cost(
    provider: str, model: str, input_tokens: int, max_output_tokens: int
) -> Decimal:
    """The most a call should cost: its (estimated) input tokens and all of the output tokens
    it may produce."""
    return _expected(price_for(provider, model, unit=Unit.TOKEN), input_tokens, max_output_tokens)


def budget_check_call(
    *,
    user_id: Any,
    project_id: Any,
    provider: str,
    model: str,
    input_tokens: int,
    max_output_tokens: int,
    now: datetime.datetime | None = None,
) -> Decimal:
    """``budget_check`` for one call to ``provider``/``model`` of ``input_tokens`` (estimated)
    that may produce up to ``max_output_tokens``, with the expected cost from
    ``call_expected_cost``; returns that cost.

    A model without a per-token price (it would be recorded as costing 0) is refused while a
    budget covers it: its spend could not be counted against the limit.
    """
    budgets = budgets_applicable(user_id=user_id, project_id=project_id, provider=provider)
    if not budgets:
        return Decimal(0)
    quote = price_for(provider, model, unit=Unit.TOKEN)
    expected = _expected(quote, input_tokens, max_output_tokens)
    if not quote.known:
        budget = budgets[0]
        raise BudgetExceeded(
            f"budget “{budget.label}” cannot be kept: {provider}/{model or '*'} has no price, "
            "so its cost would not be counted (add a price in the admin)",
            budget=budget,
            spent=Decimal(0),
            expected_cost=expected,
            provider=provider,
        )
    if expected > 0:
        _check(budgets, provider, expected, now or timezone.now())
    return expected


abudget_check = sync_to_async(budget_check)
abudget_check_call = sync_to_async(budget_check_call)
