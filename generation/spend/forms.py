from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django import forms

from generation.spend.periods import DEFAULT_PERIOD, SpendPeriod, period_parse
from generation.spend.selectors import NONE, PRODUCT_KEYS, Dimension


def _optional_id(value: str, noun: str) -> str:
    if value == NONE or (value.isascii() and value.isdigit() and int(value) > 0):
        return value
    raise forms.ValidationError(f"Choose a {noun} from the list.")


class SpendForm(forms.Form):
    """A spend view: its period and the values it is narrowed to (``dimensions`` says which of
    them this viewer may narrow by; the others are ignored)."""

    period = forms.CharField(required=False, max_length=7)
    project = forms.CharField(required=False, max_length=20)
    product = forms.ChoiceField(
        required=False, choices=[("", "Every product"), *((k, k) for k in PRODUCT_KEYS)]
    )
    provider = forms.CharField(required=False, max_length=40, strip=False)
    model = forms.CharField(required=False, max_length=120, strip=False)
    user = forms.CharField(required=False, max_length=20)

    def __init__(
        self,
        data: Any,
        *,
        now: datetime.datetime,
        dimensions: Iterable[Dimension] = (),
    ) -> None:
        super().__init__(data)
        self.now = now
        self.dimensions = tuple(dimensions)
        for name in list(self.fields):
            if name != "period" and name not in self.dimensions:
                del self.fields[name]

    def clean_period(self) -> SpendPeriod:
        key = self.cleaned_data.get("period") or DEFAULT_PERIOD
        try:
            return period_parse(key, self.now)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_user(self) -> str:
        value = self.cleaned_data.get("user") or ""
        return _optional_id(value, "person") if value else ""

    def clean_project(self) -> str:
        value = self.cleaned_data.get("project") or ""
        return _optional_id(value, "project") if value else ""

    @property
    def spend_period(self) -> SpendPeriod:
        """The period asked for, or month to date when the form is not valid."""
        if self.is_valid():
            return self.cleaned_data["period"]
        period = self.cleaned_data.get("period")
        return period if isinstance(period, SpendPeriod) else period_parse(DEFAULT_PERIOD, self.now)

    @property
    def filters(self) -> dict[str, str]:
        """Dimension -> key of each value the view is narrowed to (none when not valid)."""
        if not self.is_valid():
            return {}
        return {
            dimension: self.cleaned_data[dimension]
            for dimension in self.dimensions
            if self.cleaned_data.get(dimension)
        }


def spend_query(period: SpendPeriod, filters: dict[str, str], **changes: str | None) -> str:
    """The query string of a view: ``period`` and ``filters`` with ``changes`` (a value of
    ``None`` drops that filter)."""
    values: dict[str, str] = {"period": period.key, **filters}
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return urlencode(values)
