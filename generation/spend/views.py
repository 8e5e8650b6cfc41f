"""A project's spend page and its ledger as CSV.

Every member sees the totals (the period's spend and calls, by day, this month's spend and the
budgets left); owners also see it by product, provider, model and person, narrow it to any of
those, and download the ledger rows behind what they see. A non-member gets 404.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from aura_site.http import HtmxHttpRequest
from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from generation.spend import charts
from generation.spend.exports import ledger_csv
from generation.spend.forms import SpendForm, spend_query
from generation.spend.periods import SpendPeriod, period_choices
from generation.spend.selectors import (
    DIMENSION_NOUNS,
    Dimension,
    Link,
    SpendSummary,
    earliest_record,
    ledger_rows,
    project_spend_card,
    spend_summary,
)

PROJECT_FILTERS = (Dimension.PRODUCT, Dimension.PROVIDER, Dimension.MODEL, Dimension.USER)
OWNER_BREAKDOWNS = (Dimension.PRODUCT, Dimension.PROVIDER, Dimension.MODEL, Dimension.USER)


def view_context(
    form: SpendForm,
    summary: SpendSummary,
    *,
    base_url: str,
    csv_url: str,
    choices: list[tuple[str, str]],
    bars: tuple[Dimension, ...],
) -> dict[str, Any]:
    """What the spend templates show of ``summary``: its charts, the period picker, the
    filters applied (each with the link that drops it) and the CSV link of the same view."""
    period, filters = summary.period, form.filters
    if period.key not in dict(choices):
        choices = [*choices, (period.key, period.label)]
    query = spend_query(period, filters)
    return {
        "form": form,
        "summary": summary,
        "period": period,
        "period_choices": choices,
        "day_chart": charts.column_chart(summary.breakdowns[Dimension.DAY]),
        "bar_charts": [
            charts.bar_chart(summary.breakdowns[dimension])
            for dimension in bars
            if dimension in summary.breakdowns
        ],
        "active_filters": [
            {
                "dimension": dimension,
                "noun": DIMENSION_NOUNS[Dimension(dimension)],
                "label": label,
                "clear_url": f"{base_url}?{spend_query(period, filters, **{dimension: None})}",
            }
            for dimension, (_key, label) in summary.filters.items()
        ],
        "hidden_filters": filters,
        "csv_url": f"{csv_url}?{query}",
        "all_url": f"{base_url}?{spend_query(period, {})}",
    }


def linker(base_url: str, period: SpendPeriod, filters: dict[str, str]) -> Link:
    """The URL of each line's narrowed view: this view with one more filter."""

    def link(dimension: str, key: str) -> str:
        return f"{base_url}?{spend_query(period, filters, **{dimension: key})}"

    return link


@require_GET
def project_spend(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, membership = project_for_user(request.user, project_id)
    detail = membership.can(Role.OWNER)
    now = timezone.now()
    form = SpendForm(request.GET, now=now, dimensions=PROJECT_FILTERS if detail else ())
    period, filters = form.spend_period, form.filters
    base_url = reverse("spend:project", args=[project.pk])
    breakdowns = (Dimension.DAY, *OWNER_BREAKDOWNS) if detail else (Dimension.DAY,)
    summary = spend_summary(project, period, breakdowns, filters, linker(base_url, period, filters))
    context = view_context(
        form,
        summary,
        base_url=base_url,
        csv_url=reverse("spend:project_csv", args=[project.pk]),
        choices=period_choices(now, earliest_record(project)),
        bars=OWNER_BREAKDOWNS if detail else (),
    )
    context.update(
        {
            "project": project,
            "membership": membership,
            "detail": detail,
            "card": project_spend_card(project, now),
        }
    )
    return render(request, "spend/project.html", context, status=200 if form.is_valid() else 400)


def csv_response(content: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def form_errors(form: SpendForm) -> HttpResponse:
    text = "\n".join(
        f"{name}: {' '.join(str(error) for error in errors)}"
        for name, errors in form.errors.items()
    )
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


@require_GET
def project_spend_csv(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project, _ = project_for_user(request.user, project_id, Role.OWNER)
    form = SpendForm(request.GET, now=timezone.now(), dimensions=PROJECT_FILTERS)
    if not form.is_valid():
        return form_errors(form)
    period = form.spend_period
    content = ledger_csv(ledger_rows(project, period, form.filters))
    return csv_response(content, f"spend-project-{project.pk}-{period.key}.csv")
