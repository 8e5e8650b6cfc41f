"""Reads of spend: the ledger's records in a period, summed by day, product, provider, model,
user and project.

Sums are exact on every database: the records are grouped in SQL with their costs as whole
units of 1e-8 USD (the ledger's precision, as ``generation.costs.services.ledger_total`` adds
them), so SQLite's floating-point arithmetic never touches them; every breakdown is folded
from that one grouped query in Python, in integers.

A record's product is the kind of the run its ``run_id`` names (``script``, ``roundtable``,
``video``); a record of another kind's run, or of no run (a command-line call), is "Other".

These selectors take a project the caller has already authorised
(``aura_site.projects.selectors.project_for_user``), or none for staff across projects.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import BigIntegerField, Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Round, TruncDate
from django.utils import timezone

from aura_site.projects.models import Project
from generation.costs.budgets import budget_standing, budgets_applicable
from generation.costs.models import Budget, CostRecord
from generation.costs.services import UNITS_PER_USD, ledger_total
from generation.runs.models import Run
from generation.spend.periods import SpendPeriod, month_to_date

NONE = "(none)"
"""The filter key of records without a model, a user or a project."""
RUN_BATCH = 500


class Dimension(StrEnum):
    DAY = "day"
    PRODUCT = "product"
    PROVIDER = "provider"
    MODEL = "model"
    USER = "user"
    PROJECT = "project"


FILTER_DIMENSIONS = (
    Dimension.PROJECT,
    Dimension.PRODUCT,
    Dimension.PROVIDER,
    Dimension.MODEL,
    Dimension.USER,
)
"""What a view can be narrowed to (a day is a period's part, shown, not filtered)."""

DIMENSION_TITLES = {
    Dimension.DAY: "By day",
    Dimension.PRODUCT: "By product",
    Dimension.PROVIDER: "By provider",
    Dimension.MODEL: "By model",
    Dimension.USER: "By person",
    Dimension.PROJECT: "By project",
}
DIMENSION_NOUNS = {
    Dimension.DAY: "day",
    Dimension.PRODUCT: "product",
    Dimension.PROVIDER: "provider",
    Dimension.MODEL: "model",
    Dimension.USER: "person",
    Dimension.PROJECT: "project",
}

PRODUCTS: dict[str, tuple[str, str]] = {
    "script": ("scripts", "Scripts"),
    "roundtable": ("roundtables", "Roundtables"),
    "video": ("videos", "Videos"),
}
"""Run kind -> the product's key and name."""
OTHER_PRODUCT = ("other", "Other")
PRODUCT_KEYS = (*(key for key, _ in PRODUCTS.values()), OTHER_PRODUCT[0])
PRODUCT_LABELS = dict([*PRODUCTS.values(), OTHER_PRODUCT])

Filters = Mapping[str, str]
"""Dimension -> the key of the one value shown (``openai``, ``scripts``, a user's id, ``NONE``)."""
Link = Callable[[str, str], str]
"""``(dimension, key) -> URL`` of the view narrowed to that value."""


def _units() -> Cast:
    return Cast(Round(F("cost") * Value(Decimal(UNITS_PER_USD))), BigIntegerField())


def _usd(units: int) -> Decimal:
    return Decimal(units) / UNITS_PER_USD


def _optional_id(key: str) -> int | None:
    return None if key == NONE else int(key)


def records_in(
    project: Project | None, period: SpendPeriod, filters: Filters | None = None
) -> QuerySet[CostRecord]:
    """The project's records (every project's: ``None``) created in ``period``, narrowed by
    every filter but the product (which is the run's, see ``products_of``)."""
    records = CostRecord.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    if project is not None:
        records = records.filter(project=project)
    for dimension, key in (filters or {}).items():
        if dimension == Dimension.PROVIDER:
            records = records.filter(provider=key)
        elif dimension == Dimension.MODEL:
            records = records.filter(model="" if key == NONE else key)
        elif dimension in (Dimension.USER, Dimension.PROJECT):
            pk = _optional_id(key)
            column = f"{dimension}_id"
            records = records.filter(
                Q(**{f"{column}__isnull": True}) if pk is None else Q(**{column: pk})
            )
    return records


def earliest_record(project: Project | None) -> datetime.datetime | None:
    records = (
        CostRecord.objects.all() if project is None else CostRecord.objects.filter(project=project)
    )
    return records.order_by("created_at").values_list("created_at", flat=True).first()


def _run_uuid(run_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(run_id)
    except ValueError:
        return None


def products_of(run_ids: Iterable[str]) -> dict[str, str]:
    """``run_id`` as a record stores it -> the product key of that run (``other`` for a run of
    another kind, a run that is gone, or no run)."""
    ids = {run_id: _run_uuid(run_id) for run_id in set(run_ids)}
    kinds: dict[uuid.UUID, str] = {}
    wanted = sorted({pk for pk in ids.values() if pk is not None})
    for start in range(0, len(wanted), RUN_BATCH):
        batch = wanted[start : start + RUN_BATCH]
        kinds.update(Run.objects.filter(pk__in=batch).values_list("pk", "kind"))
    return {
        run_id: PRODUCTS.get(kinds.get(pk, "") if pk else "", OTHER_PRODUCT)[0]
        for run_id, pk in ids.items()
    }


@dataclass(frozen=True, slots=True)
class _Group:
    day: datetime.date
    project_id: int | None
    user_id: int | None
    provider: str
    model: str
    product: str
    units: int
    calls: int


def _groups(records: QuerySet[CostRecord], product: str | None) -> list[_Group]:
    rows = list(
        records.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=datetime.UTC))
        .values("day", "project_id", "user_id", "provider", "model", "run_id")
        .annotate(units=Sum(_units()), calls=Count("id"))
    )
    products = products_of(row["run_id"] for row in rows)
    groups = [
        _Group(
            day=row["day"],
            project_id=row["project_id"],
            user_id=row["user_id"],
            provider=row["provider"],
            model=row["model"],
            product=products[row["run_id"]],
            units=int(row["units"] or 0),
            calls=int(row["calls"]),
        )
        for row in rows
    ]
    if product is not None:
        groups = [group for group in groups if group.product == product]
    return groups


@dataclass(slots=True)
class SpendLine:
    """One bar of a chart and one row of its table."""

    key: str
    label: str
    amount: Decimal
    calls: int
    day: datetime.date | None = None
    href: str = ""
    share: Decimal = Decimal(0)
    """Percent of the breakdown's total, to one decimal."""


@dataclass(slots=True)
class Breakdown:
    dimension: Dimension
    lines: list[SpendLine]
    total: Decimal
    calls: int

    @property
    def title(self) -> str:
        return DIMENSION_TITLES[self.dimension]

    @property
    def noun(self) -> str:
        return DIMENSION_NOUNS[self.dimension]

    @property
    def top(self) -> SpendLine | None:
        return max(self.lines, key=lambda line: line.amount, default=None)


@dataclass(slots=True)
class SpendSummary:
    period: SpendPeriod
    total: Decimal
    calls: int
    breakdowns: dict[str, Breakdown] = field(default_factory=dict)
    filters: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Dimension -> (key, label) of each filter applied."""


def _fold(groups: list[_Group], key: Callable[[_Group], Any]) -> dict[Any, tuple[int, int]]:
    sums: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for group in groups:
        entry = sums[key(group)]
        entry[0] += group.units
        entry[1] += group.calls
    return {name: (units, calls) for name, (units, calls) in sums.items()}


def _share(amount: Decimal, total: Decimal) -> Decimal:
    if total <= 0:
        return Decimal(0)
    return (amount * 100 / total).quantize(Decimal("0.1"))


def _usernames(user_ids: Iterable[int]) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in=set(user_ids))
    return {user.pk: user.get_username() for user in users}


def _project_names(project_ids: Iterable[int]) -> dict[int, str]:
    return dict(Project.objects.filter(pk__in=set(project_ids)).values_list("pk", "name"))


def _sorted_lines(lines: list[SpendLine]) -> list[SpendLine]:
    return sorted(lines, key=lambda line: (-line.amount, -line.calls, line.label.lower()))


def _day_label(day: datetime.date) -> str:
    return f"{day.day} {day:%b}"


def _breakdown(
    dimension: Dimension, groups: list[_Group], period: SpendPeriod, names: dict[str, Any]
) -> Breakdown:
    if dimension == Dimension.DAY:
        sums = _fold(groups, lambda g: g.day)
        lines = [
            SpendLine(day.isoformat(), _day_label(day), _usd(units), calls, day=day)
            for day in period.days
            for units, calls in [sums.get(day, (0, 0))]
        ]
    elif dimension == Dimension.PRODUCT:
        sums = _fold(groups, lambda g: g.product)
        lines = _sorted_lines(
            [
                SpendLine(key, PRODUCT_LABELS[key], _usd(units), calls)
                for key, (units, calls) in sums.items()
            ]
        )
    elif dimension == Dimension.PROVIDER:
        sums = _fold(groups, lambda g: g.provider)
        lines = _sorted_lines(
            [SpendLine(key, key, _usd(units), calls) for key, (units, calls) in sums.items()]
        )
    elif dimension == Dimension.MODEL:
        sums = _fold(groups, lambda g: (g.provider, g.model))
        lines = _sorted_lines(
            [
                SpendLine(model or NONE, f"{model or 'no model'} ({provider})", _usd(u), calls)
                for (provider, model), (u, calls) in sums.items()
            ]
        )
    else:
        attribute = "user_id" if dimension == Dimension.USER else "project_id"
        sums = _fold(groups, lambda g: getattr(g, attribute))
        labels = names[dimension]
        missing = "no one" if dimension == Dimension.USER else "no project"
        lines = _sorted_lines(
            [
                SpendLine(
                    NONE if pk is None else str(pk),
                    missing if pk is None else labels.get(pk, f"#{pk}"),
                    _usd(units),
                    calls,
                )
                for pk, (units, calls) in sums.items()
            ]
        )
    total = _usd(sum(group.units for group in groups))
    for line in lines:
        line.share = _share(line.amount, total)
    return Breakdown(dimension, lines, total, sum(group.calls for group in groups))


def _filter_label(dimension: str, key: str, names: dict[str, Any]) -> str:
    if dimension == Dimension.PRODUCT:
        return PRODUCT_LABELS.get(key, key)
    if dimension == Dimension.MODEL:
        return "no model" if key == NONE else key
    if dimension in (Dimension.USER, Dimension.PROJECT):
        pk = _optional_id(key)
        if pk is None:
            return "no one" if dimension == Dimension.USER else "no project"
        return str(names[dimension].get(pk, f"#{pk}"))
    return key


def spend_summary(
    project: Project | None,
    period: SpendPeriod,
    dimensions: Iterable[Dimension],
    filters: Filters | None = None,
    link: Link | None = None,
) -> SpendSummary:
    """What the records of ``project`` (every project: ``None``) in ``period``, narrowed by
    ``filters``, cost in total and by each of ``dimensions``: one grouped query, then the
    names of the people and projects shown. ``link`` gives each line of a filterable
    dimension the URL of the view narrowed to it."""
    filters = dict(filters or {})
    groups = _groups(records_in(project, period, filters), filters.get(Dimension.PRODUCT))
    dimensions = list(dimensions)
    user_ids = {g.user_id for g in groups if g.user_id is not None}
    project_ids = {g.project_id for g in groups if g.project_id is not None}
    for dimension, key in filters.items():
        if dimension in (Dimension.USER, Dimension.PROJECT) and key != NONE:
            (user_ids if dimension == Dimension.USER else project_ids).add(int(key))
    names: dict[str, Any] = {
        Dimension.USER: _usernames(user_ids) if Dimension.USER in {*dimensions, *filters} else {},
        Dimension.PROJECT: (
            _project_names(project_ids) if Dimension.PROJECT in {*dimensions, *filters} else {}
        ),
    }
    summary = SpendSummary(
        period=period,
        total=_usd(sum(group.units for group in groups)),
        calls=sum(group.calls for group in groups),
        filters={
            dimension: (key, _filter_label(dimension, key, names))
            for dimension, key in filters.items()
        },
    )
    for dimension in dimensions:
        breakdown = _breakdown(dimension, groups, period, names)
        if link is not None and dimension in FILTER_DIMENSIONS and dimension not in filters:
            for line in breakdown.lines:
                line.href = link(dimension, line.key)
        summary.breakdowns[dimension] = breakdown
    return summary


def ledger_rows(
    project: Project | None, period: SpendPeriod, filters: Filters | None = None
) -> Iterator[tuple[CostRecord, str]]:
    """The records behind a view, oldest first, each with its product key."""
    filters = dict(filters or {})
    records = records_in(project, period, filters)
    products = products_of(records.order_by().values_list("run_id", flat=True).distinct())
    product = filters.get(Dimension.PRODUCT)
    for record in (
        records.select_related("user", "project").order_by("created_at", "id").iterator(2000)
    ):
        key = products.get(record.run_id, OTHER_PRODUCT[0])
        if product is None or key == product:
            yield record, key


BUDGET_TITLES: dict[str, str] = {
    Budget.Period.DAY: "Daily budget",
    Budget.Period.MONTH: "Monthly budget",
    Budget.Period.TOTAL: "Total budget",
}
BUDGET_SPENT_WORDS: dict[str, str] = {
    Budget.Period.DAY: "today (UTC)",
    Budget.Period.MONTH: "this month (UTC)",
    Budget.Period.TOTAL: "in total",
}


@dataclass(frozen=True, slots=True)
class BudgetLeft:
    budget: Budget
    spent: Decimal
    left: Decimal
    """``limit - spent - held``; below zero when the budget is overspent."""
    held: Decimal = Decimal(0)
    """Set aside for calls under way (their upper bounds)."""

    @property
    def title(self) -> str:
        """The name staff gave it, else its period (and its provider, for one provider's)."""
        if self.budget.name:
            return self.budget.name
        title = BUDGET_TITLES.get(self.budget.period, "Budget")
        return f"{title}, {self.budget.provider} only" if self.budget.provider else title

    @property
    def spent_words(self) -> str:
        return BUDGET_SPENT_WORDS.get(self.budget.period, "")

    @property
    def over(self) -> Decimal:
        return max(Decimal(0), -self.left)

    @property
    def used_percent(self) -> int:
        if self.budget.limit_usd <= 0:
            return 100
        return min(100, int(self.spent * 100 / self.budget.limit_usd))


@dataclass(frozen=True, slots=True)
class SpendCard:
    month: SpendPeriod
    month_total: Decimal
    budgets: list[BudgetLeft]


def project_budgets(project: Project, now: datetime.datetime | None = None) -> list[BudgetLeft]:
    """The project's own active budgets (for every provider first, then those for one), each
    with what it has spent in its current period and what is left."""
    moment = now or timezone.now()
    general = [
        budget
        for budget in budgets_applicable(user_id=None, project_id=project.pk, provider="")
        if budget.scope == Budget.Scope.PROJECT
    ]
    per_provider = list(
        Budget.objects.filter(scope=Budget.Scope.PROJECT, project=project, active=True)
        .exclude(provider="")
        .select_related("project")
        .order_by("provider", "id")
    )
    lines = []
    for budget in [*general, *per_provider]:
        standing = budget_standing(budget, moment)
        lines.append(
            BudgetLeft(
                budget,
                standing.spent,
                budget.limit_usd - standing.spent - standing.held,
                standing.held,
            )
        )
    return lines


def project_spend_card(project: Project, now: datetime.datetime | None = None) -> SpendCard:
    """This UTC month's spend so far and the project's budgets left, for the project page."""
    moment = now or timezone.now()
    month = month_to_date(moment)
    total = ledger_total(records_in(project, month))
    return SpendCard(month, total, project_budgets(project, moment))
