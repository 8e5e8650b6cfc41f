from __future__ import annotations

from typing import Any

from django import template

from generation.spend.selectors import SpendCard, project_spend_card

register = template.Library()


@register.simple_tag
def spend_card(project: Any) -> SpendCard:
    """This month's spend and the budgets left of a project the page already authorised."""
    return project_spend_card(project)
