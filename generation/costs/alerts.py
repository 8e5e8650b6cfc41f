"""Budget alerts: when a budget's spend crosses 50, 75, 90 or 100 % of its limit in a period.

After each cost record that cost something commits, every active budget covering it is read;
each threshold it has crossed in its current period is written once (``BudgetAlert``, unique per
budget, period and threshold, so two processes crossing it at once write it once). The highest
threshold crossed by that record is announced to the budget's people: the owners of a project
budget's project, the user of a user budget, staff for a global one. Each gets an in-app notice
(``BudgetNotice``) that appears live on their dashboard and on the project's page, and an email
through Django's mail settings (the console backend on the embedded defaults), sent from a
thread of its own.
"""

from __future__ import annotations

import datetime
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from aura_site.projects import live
from aura_site.projects.models import Membership, Role
from generation.costs.budgets import budget_spent, budgets_applicable
from generation.costs.models import Budget, BudgetAlert, BudgetNotice, CostRecord
from generation.costs.services import after_cost_record

logger = logging.getLogger(__name__)

THRESHOLDS = BudgetAlert.THRESHOLDS


def period_key(budget: Budget, now: datetime.datetime) -> str:
    """The period of ``budget`` holding ``now``: ``2026-12-02``, ``2026-12`` or ``total``."""
    moment = now.astimezone(datetime.UTC)
    if budget.period == Budget.Period.DAY:
        return moment.strftime("%Y-%m-%d")
    if budget.period == Budget.Period.MONTH:
        return moment.strftime("%Y-%m")
    return "total"


def crossed(spent: Decimal, limit: Decimal) -> list[int]:
    """The thresholds (percent of ``limit``) that ``spent`` has reached."""
    if limit <= 0:
        return list(THRESHOLDS) if spent > 0 else []
    return [threshold for threshold in THRESHOLDS if spent * 100 >= limit * threshold]


def recipients(budget: Budget) -> list[Any]:
    """Who hears of ``budget``'s alerts."""
    users = get_user_model().objects.filter(is_active=True)
    if budget.scope == Budget.Scope.PROJECT:
        owners = Membership.objects.filter(project=budget.project, role=Role.OWNER)
        return list(users.filter(pk__in=owners.values("user_id")).order_by("pk"))
    if budget.scope == Budget.Scope.USER:
        return list(users.filter(pk=budget.user.pk)) if budget.user else []
    return list(users.filter(is_staff=True).order_by("pk"))


def alerts_check(budget: Budget, now: datetime.datetime | None = None) -> BudgetAlert | None:
    """Write the thresholds ``budget`` has newly crossed in its period and announce the
    highest of them; that alert, or None when nothing new was crossed."""
    moment = now or timezone.now()
    spent = budget_spent(budget, moment)
    key = period_key(budget, moment)
    newest: BudgetAlert | None = None
    for threshold in crossed(spent, budget.limit_usd):
        try:
            with transaction.atomic():
                newest = BudgetAlert.objects.create(
                    budget=budget,
                    period_key=key,
                    threshold=threshold,
                    spent=spent,
                    limit_usd=budget.limit_usd,
                )
        except IntegrityError:
            continue
    if newest is not None:
        _announce(newest)
    return newest


def alerts_for_record(record: CostRecord) -> list[BudgetAlert]:
    """``alerts_check`` for every active budget the cost ``record`` falls under."""
    budgets = budgets_applicable(
        user_id=record.user_id, project_id=record.project_id, provider=record.provider
    )
    found = [alerts_check(budget, record.created_at) for budget in budgets]
    return [alert for alert in found if alert is not None]


_mailer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="budget-alert-mail")
_pending: list[Future[None]] = []


def _mail(alert_id: int, text: str, addresses: list[str]) -> None:
    """Send one alert's email, off the thread that wrote the cost record (a slow mail server
    never holds up a run), then mark its notices emailed."""
    try:
        send_mail(
            f"Aura Studio: {text.split(':', 1)[0]}", text, settings.DEFAULT_FROM_EMAIL, addresses
        )
    except Exception:
        logger.exception("could not email budget alert %s", alert_id)
        return
    try:
        BudgetNotice.objects.filter(alert_id=alert_id, user__email__in=addresses).update(
            emailed=True
        )
    finally:
        connection.close()


def mail_wait(timeout: float = 30.0) -> None:
    """Wait until every alert email asked for so far has been handed to the mail backend."""
    while _pending:
        _pending.pop(0).result(timeout=timeout)


def alert_text(alert: BudgetAlert) -> str:
    return alert.text


def _announce(alert: BudgetAlert) -> None:
    people = recipients(alert.budget)
    if not people:
        return
    BudgetNotice.objects.bulk_create(
        [BudgetNotice(alert=alert, user=person) for person in people], ignore_conflicts=True
    )
    addresses = [person.email for person in people if person.email]
    if addresses:
        _pending.append(_mailer.submit(_mail, alert.pk, alert_text(alert), addresses))
    live.dashboards_changed(person.pk for person in people)
    if alert.budget.project_id is not None:
        live.project_changed(alert.budget.project_id, ["alerts"])


def connect() -> None:
    after_cost_record(alerts_for_record)
