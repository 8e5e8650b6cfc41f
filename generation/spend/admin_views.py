"""Spend across projects for staff, in the admin: the same figures as a project's spend page,
by project, product, provider and day, narrowed to any project, product or provider, with the
ledger rows behind each view as CSV. Staff who may view the cost ledger may view this."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from generation.spend.exports import ledger_csv
from generation.spend.forms import SpendForm
from generation.spend.periods import period_choices
from generation.spend.selectors import Dimension, earliest_record, ledger_rows, spend_summary
from generation.spend.views import csv_response, form_errors, linker, view_context

ADMIN_FILTERS = (Dimension.PROJECT, Dimension.PRODUCT, Dimension.PROVIDER)
ADMIN_BREAKDOWNS = (Dimension.PROJECT, Dimension.PRODUCT, Dimension.PROVIDER)
PERMISSION = "costs.view_costrecord"


def _authorise(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("Viewing spend needs the permission to view cost records.")


def spend_admin(request: HttpRequest) -> HttpResponse:
    _authorise(request)
    now = timezone.now()
    form = SpendForm(request.GET, now=now, dimensions=ADMIN_FILTERS)
    period, filters = form.spend_period, form.filters
    base_url = reverse("spend:admin")
    summary = spend_summary(
        None,
        period,
        (Dimension.DAY, *ADMIN_BREAKDOWNS),
        filters,
        linker(base_url, period, filters),
    )
    context = {
        **admin.site.each_context(request),
        **view_context(
            form,
            summary,
            base_url=base_url,
            csv_url=reverse("spend:admin_csv"),
            choices=period_choices(now, earliest_record(None)),
            bars=ADMIN_BREAKDOWNS,
        ),
        "title": "Spend across projects",
        "subtitle": period.label,
    }
    return TemplateResponse(
        request, "spend/admin.html", context, status=200 if form.is_valid() else 400
    )


def spend_admin_csv(request: HttpRequest) -> HttpResponse:
    _authorise(request)
    form = SpendForm(request.GET, now=timezone.now(), dimensions=ADMIN_FILTERS)
    if not form.is_valid():
        return form_errors(form)
    period = form.spend_period
    content = ledger_csv(ledger_rows(None, period, form.filters))
    return csv_response(content, f"spend-all-projects-{period.key}.csv")
