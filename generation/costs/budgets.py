"""Spending budgets, checked and reserved before a provider call is dispatched.

A budget's standing in its current period (the UTC calendar day or month, or all time) is what
the ledger (``CostRecord.cost``) shows spent plus what calls under way hold (``BudgetHold``).
``budget_reserve`` refuses a call with ``BudgetExceeded`` when spent + held + the call's upper
bound would go over the limit of any active budget that covers it, and otherwise holds that
upper bound, in one atomic step: the covering budget rows are locked (``SELECT ... FOR UPDATE``
on PostgreSQL; on SQLite the write transaction is ``IMMEDIATE``, one writer at a time), so
concurrent starts cannot all see the same room. The call's cost record settles the hold
(``cost_record_create(hold_id=...)``): the actual cost replaces it in the same transaction; a
failed call's record releases it; a hold whose process died ends at its ``expires_at``.
``budget_check`` is the same test without a hold. The LLM chain turns a refusal into its own
``quota`` error.

A call expected to cost nothing never breaks a budget: a budget already overshot (two calls
checked at once, or an input estimate below the provider's count) must not stop the free
providers, which is what lets Auto mode still answer when the paid ones are out of budget.

Sums are exact on every database: ``generation.costs.services.ledger_total`` adds costs as
whole units of 1e-8 USD (the ledger's precision), so SQLite's floating-point arithmetic never
touches them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from aura_site.db import db_sync_to_async
from generation.costs.models import Budget, BudgetHold, BudgetQuerySet, CostRecord, Unit
from generation.costs.services import (
    PriceQuote,
    cost_from_quote,
    exact_sum,
    ledger_total,
    price_for,
)

__all__ = [
    "BudgetExceeded",
    "BudgetStanding",
    "abudget_check",
    "abudget_check_call",
    "abudget_reserve",
    "abudget_reserve_call",
    "ahold_release",
    "budget_check",
    "budget_check_call",
    "budget_period_words",
    "budget_reserve",
    "budget_reserve_call",
    "budget_spent",
    "budget_standing",
    "budgets_applicable",
    "budgets_spent_for",
    "call_expected_cost",
    "chain_ceiling",
    "hold_release",
    "holds_purge",
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
        held: Decimal = Decimal(0),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.budget = budget
        self.spent = spent
        self.held = held
        self.expected_cost = expected_cost

    @property
    def left(self) -> Decimal:
        return max(Decimal(0), self.budget.limit_usd - self.spent - self.held)


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


def _covering(*, user_id: Any, project_id: Any, provider: str) -> BudgetQuerySet:
    return Budget.objects.covering(user_id=user_id, project_id=project_id, provider=provider)


def budgets_applicable(*, user_id: Any, project_id: Any, provider: str) -> list[Budget]:
    """The active budgets that cover a call by ``user_id`` in ``project_id`` to ``provider``."""
    return list(
        _covering(user_id=user_id, project_id=project_id, provider=provider)
        .select_related("project", "user")
        .order_by("id")
    )


def _scoped(records: QuerySet[Any], budget: Budget, field: str, now: datetime.datetime) -> Any:
    if budget.scope == Budget.Scope.PROJECT:
        records = records.filter(project_id=budget.project_id)
    elif budget.scope == Budget.Scope.USER:
        records = records.filter(user_id=budget.user_id)
    if budget.provider:
        records = records.filter(provider=budget.provider)
    start, end = period_bounds(budget.period, now)
    if start is not None and end is not None:
        records = records.filter(**{f"{field}__gte": start, f"{field}__lt": end})
    return records


def _records(budget: Budget, now: datetime.datetime) -> QuerySet[CostRecord]:
    return _scoped(CostRecord.objects.all(), budget, "created_at", now)


def _holds(budget: Budget, now: datetime.datetime) -> QuerySet[BudgetHold]:
    return _scoped(BudgetHold.objects.filter(expires_at__gt=now), budget, "created_at", now)


def budget_spent(budget: Budget, now: datetime.datetime | None = None) -> Decimal:
    """What the calls ``budget`` covers cost in its period holding ``now``: one aggregate."""
    return ledger_total(_records(budget, now or timezone.now()))


@dataclass(frozen=True, slots=True)
class BudgetStanding:
    """A budget in its current period: spent (the ledger), held (calls under way), left."""

    budget: Budget
    spent: Decimal
    held: Decimal

    @property
    def limit(self) -> Decimal:
        return self.budget.limit_usd

    @property
    def left(self) -> Decimal:
        return max(Decimal(0), self.budget.limit_usd - self.spent - self.held)

    @property
    def percent(self) -> int:
        """Spent as a whole percentage of the limit (100 for a zero limit)."""
        if self.budget.limit_usd <= 0:
            return 100
        return int(self.spent * 100 / self.budget.limit_usd)


def budget_standing(budget: Budget, now: datetime.datetime | None = None) -> BudgetStanding:
    """Spent and held for ``budget`` in its period holding ``now``: two aggregates."""
    moment = now or timezone.now()
    return BudgetStanding(
        budget, ledger_total(_records(budget, moment)), exact_sum(_holds(budget, moment), "amount")
    )


def budgets_spent_for(
    *, user_id: Any, project_id: Any, providers: list[str], now: datetime.datetime | None = None
) -> list[tuple[BudgetStanding, list[str]]]:
    """The active budgets covering a call by ``user_id`` in ``project_id`` to any of
    ``providers`` that have nothing left in their period (spent and held reach the limit), each
    with the providers of ``providers`` it covers, in their order: what a form shows before
    Start, since the chain will skip those providers' paid calls."""
    moment = now or timezone.now()
    found: dict[int, tuple[BudgetStanding, list[str]]] = {}
    room: set[int] = set()
    for provider in providers:
        for budget in budgets_applicable(user_id=user_id, project_id=project_id, provider=provider):
            if budget.pk in found:
                found[budget.pk][1].append(provider)
            elif budget.pk not in room:
                standing = budget_standing(budget, moment)
                if standing.left <= 0:
                    found[budget.pk] = (standing, [provider])
                else:
                    room.add(budget.pk)
    return list(found.values())


def budget_period_words(budget: Budget) -> str:
    """``today (UTC)``, ``this month (UTC)`` or ``in total``: the period a budget counts."""
    return _period_words(budget)


def _period_words(budget: Budget) -> str:
    return {
        Budget.Period.DAY: "today (UTC)",
        Budget.Period.MONTH: "this month (UTC)",
    }.get(Budget.Period(budget.period), "in total")


def _check(
    budgets: list[Budget], provider: str, expected_cost: Decimal, now: datetime.datetime
) -> None:
    for budget in budgets:
        standing = budget_standing(budget, now)
        spent, held = standing.spent, standing.held
        if spent + held + expected_cost > budget.limit_usd:
            under_way = f", {usd(held)} USD held by calls under way" if held else ""
            message = (
                f"budget “{budget.label}” would be exceeded: {usd(spent)} USD spent "
                f"{_period_words(budget)}{under_way} of its {usd(budget.limit_usd)} USD limit "
                f"({usd(standing.left)} USD left), and this {provider} call may cost up to "
                f"{usd(expected_cost)} USD"
            )
            raise BudgetExceeded(
                message,
                budget=budget,
                spent=spent,
                held=held,
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


def chain_ceiling(
    chain: list[str],
    model: str,
    input_tokens: int,
    max_output_tokens: int,
    *,
    max_cost: Decimal | None = None,
) -> Decimal:
    """The most one call on ``chain`` may cost: every provider of the chain tried in turn,
    each producing all ``max_output_tokens`` (``model`` on the first, each one's default on
    the fallbacks). With ``max_cost`` (a cost ceiling for fallbacks), a fallback that may cost
    more is skipped, so it adds nothing."""
    total = Decimal(0)
    for position, alias in enumerate(chain):
        bound = call_expected_cost(
            alias, model if position == 0 else "", input_tokens, max_output_tokens
        )
        if position > 0 and max_cost is not None and bound > max_cost:
            continue
        total += bound
    return total


def _priced_bound(
    budgets: list[Budget], provider: str, model: str, input_tokens: int, max_output_tokens: int
) -> Decimal:
    """A call's upper bound; a model without a per-token price is refused while ``budgets``
    cover it (its spend could not be counted against them)."""
    quote = price_for(provider, model, unit=Unit.TOKEN)
    bound = _expected(quote, input_tokens, max_output_tokens)
    if not quote.known:
        budget = budgets[0]
        raise BudgetExceeded(
            f"budget “{budget.label}” cannot be kept: {provider}/{model or '*'} has no price, "
            "so its cost would not be counted (add a price in the admin)",
            budget=budget,
            spent=Decimal(0),
            expected_cost=bound,
            provider=provider,
        )
    return bound


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
    expected = _priced_bound(budgets, provider, model, input_tokens, max_output_tokens)
    if expected > 0:
        _check(budgets, provider, expected, now or timezone.now())
    return expected


def budget_reserve(
    *,
    user_id: Any,
    project_id: Any,
    provider: str,
    amount: Decimal,
    model: str = "",
    run_id: Any = "",
    part: str = "",
    attempt: int = 1,
    hold_seconds: float | None = None,
    now: datetime.datetime | None = None,
) -> int | None:
    """Hold ``amount`` (a call's upper bound) against every active budget covering the call, or
    raise ``BudgetExceeded`` (nothing held) when any would go over its limit; the hold's id, or
    None when no budget covers the call or it costs nothing. One transaction: the covering
    budgets are locked, their standing read, the hold written. Reserving again for the same
    run, part and attempt (a step tried again) replaces that attempt's hold."""
    if amount <= 0:
        return None
    moment = now or timezone.now()
    seconds = settings.AURA_BUDGET_HOLD_SECONDS if hold_seconds is None else hold_seconds
    with transaction.atomic():
        covering = _covering(user_id=user_id, project_id=project_id, provider=provider)
        locked = covering.lock()
        budgets = list(
            covering.filter(pk__in=locked).select_related("project", "user").order_by("id")
        )
        if not budgets:
            return None
        run_key = str(run_id or "")[:64]
        if run_key:
            BudgetHold.objects.filter(run_id=run_key, part=part[:64], attempt=attempt).delete()
        _check(budgets, provider, amount, moment)
        hold = BudgetHold.objects.create(
            user_id=user_id,
            project_id=project_id,
            provider=provider,
            model=model[:120],
            amount=amount,
            run_id=run_key,
            part=part[:64],
            attempt=attempt,
            created_at=moment,
            expires_at=moment + datetime.timedelta(seconds=max(1.0, seconds)),
        )
    return int(hold.pk)


def budget_reserve_call(
    *,
    user_id: Any,
    project_id: Any,
    provider: str,
    model: str,
    input_tokens: int,
    max_output_tokens: int,
    run_id: Any = "",
    part: str = "",
    attempt: int = 1,
    now: datetime.datetime | None = None,
) -> tuple[Decimal, int | None]:
    """``budget_reserve`` for one LLM call: its upper bound (``call_expected_cost``) and the
    hold's id. A model without a per-token price is refused while a budget covers it."""
    budgets = budgets_applicable(user_id=user_id, project_id=project_id, provider=provider)
    if not budgets:
        return Decimal(0), None
    bound = _priced_bound(budgets, provider, model, input_tokens, max_output_tokens)
    hold = budget_reserve(
        user_id=user_id,
        project_id=project_id,
        provider=provider,
        model=model,
        amount=bound,
        run_id=run_id,
        part=part,
        attempt=attempt,
        now=now,
    )
    return bound, hold


def hold_release(hold_id: int | None) -> None:
    """End a hold without a cost record (the call was never made)."""
    if hold_id is not None:
        BudgetHold.objects.filter(pk=hold_id).delete()


def holds_purge(now: datetime.datetime | None = None, *, run_ids: list[str] | None = None) -> int:
    """Delete expired holds, and the holds of ``run_ids`` (runs that ended); how many."""
    moment = now or timezone.now()
    expired = Q(expires_at__lte=moment)
    if run_ids:
        expired |= Q(run_id__in=[str(run_id)[:64] for run_id in run_ids])
    deleted, _ = BudgetHold.objects.filter(expired).delete()
    return deleted


abudget_check = db_sync_to_async(budget_check)
abudget_check_call = db_sync_to_async(budget_check_call)
abudget_reserve = db_sync_to_async(budget_reserve)
abudget_reserve_call = db_sync_to_async(budget_reserve_call)
ahold_release = db_sync_to_async(hold_release)
