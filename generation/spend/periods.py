"""The ranges spend is shown for: this UTC month to date (the default), the last 30 UTC days
(today included) or one UTC calendar month. Days and months are UTC, as budgets count them."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

MONTH_TO_DATE = "mtd"
LAST_30_DAYS = "30d"
DEFAULT_PERIOD = MONTH_TO_DATE
MONTH_CHOICES = 12
"""Months offered besides the current one (more when the ledger goes back further)."""
MONTH_CHOICES_MAX = 36
_MONTH_KEY = re.compile(r"^(\d{4})-(\d{2})$")
_EARLIEST_YEAR = 2000


@dataclass(frozen=True, slots=True)
class SpendPeriod:
    key: str
    """``mtd``, ``30d`` or a month, ``2025-04``."""
    label: str
    start: datetime.datetime
    """Inclusive, UTC midnight."""
    end: datetime.datetime
    """Exclusive, UTC midnight (tomorrow for a range that ends today)."""

    @property
    def days(self) -> list[datetime.date]:
        first = self.start.date()
        count = (self.end.date() - first).days
        return [first + datetime.timedelta(days=offset) for offset in range(count)]

    @property
    def first_day(self) -> datetime.date:
        return self.start.date()

    @property
    def last_day(self) -> datetime.date:
        return (self.end - datetime.timedelta(days=1)).date()


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)


def _next_month(day: datetime.date) -> datetime.date:
    return datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _previous_month(day: datetime.date) -> datetime.date:
    return datetime.date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)


def _today(now: datetime.datetime) -> datetime.date:
    return now.astimezone(datetime.UTC).date()


def month_label(month: datetime.date) -> str:
    return month.strftime("%B %Y")


def month_to_date(now: datetime.datetime) -> SpendPeriod:
    today = _today(now)
    first = today.replace(day=1)
    return SpendPeriod(
        MONTH_TO_DATE,
        f"{month_label(first)} to date",
        _midnight(first),
        _midnight(today + datetime.timedelta(days=1)),
    )


def last_30_days(now: datetime.datetime) -> SpendPeriod:
    today = _today(now)
    return SpendPeriod(
        LAST_30_DAYS,
        "Last 30 days",
        _midnight(today - datetime.timedelta(days=29)),
        _midnight(today + datetime.timedelta(days=1)),
    )


def period_parse(key: str, now: datetime.datetime) -> SpendPeriod:
    """The period a key names; the current month is month to date. ``ValueError`` for a key
    that names none, or a month after the current one."""
    if key == MONTH_TO_DATE:
        return month_to_date(now)
    if key == LAST_30_DAYS:
        return last_30_days(now)
    match = _MONTH_KEY.match(key)
    if match is None:
        raise ValueError("Choose month to date, the last 30 days or a month (YYYY-MM).")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < _EARLIEST_YEAR:
        raise ValueError(f"{key} is not a month.")
    first = datetime.date(year, month, 1)
    current = _today(now).replace(day=1)
    if first > current:
        raise ValueError(f"{month_label(first)} has not begun.")
    if first == current:
        return month_to_date(now)
    return SpendPeriod(key, month_label(first), _midnight(first), _midnight(_next_month(first)))


def period_choices(
    now: datetime.datetime, earliest: datetime.datetime | None = None
) -> list[tuple[str, str]]:
    """Month to date, the last 30 days, then the months before this one, newest first: the
    last ``MONTH_CHOICES``, or back to the month of ``earliest`` (the first record) when that is
    further, ``MONTH_CHOICES_MAX`` at most."""
    current = _today(now).replace(day=1)
    oldest = current
    for _ in range(MONTH_CHOICES):
        oldest = _previous_month(oldest)
    if earliest is not None:
        oldest = min(oldest, _today(earliest).replace(day=1))
    choices = [
        (MONTH_TO_DATE, month_to_date(now).label),
        (LAST_30_DAYS, "Last 30 days"),
    ]
    month = _previous_month(current)
    while month >= oldest and len(choices) < MONTH_CHOICES_MAX + 2:
        choices.append((month.strftime("%Y-%m"), month_label(month)))
        month = _previous_month(month)
    return choices
