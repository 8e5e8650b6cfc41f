"""People's in-app notices of budget alerts: which are open, and dismissing one."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from generation.costs.models import BudgetNotice

SHOWN = 5


def notices_for(user: Any, *, project_id: int | None = None) -> QuerySet[BudgetNotice]:
    """``user``'s notices not dismissed, newest first (of one project's budgets, if given)."""
    if not getattr(user, "is_authenticated", False):
        return BudgetNotice.objects.none()
    notices = BudgetNotice.objects.filter(user=user, dismissed_at__isnull=True).select_related(
        "alert__budget__project"
    )
    if project_id is not None:
        notices = notices.filter(alert__budget__project_id=project_id)
    return notices[:SHOWN]


def notice_dismiss(user: Any, notice_id: int) -> bool:
    """Dismiss one of ``user``'s notices; whether there was one."""
    return bool(
        BudgetNotice.objects.filter(pk=notice_id, user=user, dismissed_at__isnull=True).update(
            dismissed_at=timezone.now()
        )
    )
