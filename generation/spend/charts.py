"""The geometry of the spend charts, drawn server-side as SVG (``templates/spend/charts.html``).

Both charts are sized in CSS pixels vertically and in percent of their width horizontally (an
SVG without a ``viewBox``), so they fill any screen without scaling their text: a bar chart
(one row per line: its label and amount above a bar whose length is its share of the largest)
and a column chart of days (one column per day, its day of the month beneath; of a long
range, every fifth day from the first is a major tick, the ones a narrow screen keeps).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from aura_site.money import format_usd
from generation.spend.selectors import Breakdown, SpendLine

ROW_HEIGHT = 36
LABEL_Y = 14
BAR_Y = 20
BAR_HEIGHT = 10
LABEL_CHARS = 30

PLOT_TOP = 22
PLOT_HEIGHT = 180
AXIS_GAP = 16
COLUMN_FILL = Decimal("0.7")
MAJOR_TICK_EVERY = 5
ALL_TICKS_UP_TO = 16
MIN_SLOTS = 10
"""A chart of fewer days keeps the columns of a ten-day one, from the left."""


def _percent(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else f"{label[: LABEL_CHARS - 1]}…"


@dataclass(frozen=True, slots=True)
class Bar:
    line: SpendLine
    label: str
    """The label as drawn (shortened; the full one is the bar's title)."""
    amount_text: str
    y: int
    label_y: int
    bar_y: int
    width: str
    """Percent of the chart's width."""


@dataclass(frozen=True, slots=True)
class BarChart:
    breakdown: Breakdown
    bars: list[Bar]
    height: int
    bar_height: int = BAR_HEIGHT


def bar_chart(breakdown: Breakdown) -> BarChart:
    largest = max((line.amount for line in breakdown.lines), default=Decimal(0))
    bars = []
    for index, line in enumerate(breakdown.lines):
        y = index * ROW_HEIGHT
        share = line.amount * 100 / largest if largest > 0 else Decimal(0)
        bars.append(
            Bar(
                line=line,
                label=_short(line.label),
                amount_text=format_usd(line.amount),
                y=y,
                label_y=y + LABEL_Y,
                bar_y=y + BAR_Y,
                width=_percent(share),
            )
        )
    return BarChart(breakdown, bars, max(ROW_HEIGHT, len(bars) * ROW_HEIGHT))


@dataclass(frozen=True, slots=True)
class Column:
    line: SpendLine
    x: str
    width: str
    center: str
    y: int
    height: int
    tick: str
    major: bool


@dataclass(frozen=True, slots=True)
class ColumnChart:
    breakdown: Breakdown
    columns: list[Column]
    largest_text: str
    plot_top: int
    baseline: int
    tick_y: int
    height: int


def _major_tick(index: int, count: int) -> bool:
    """Of a few columns, every one; of more, every fifth from the first, and the last unless
    another major tick is close by."""
    if count <= ALL_TICKS_UP_TO:
        return True
    last = count - 1
    return index % MAJOR_TICK_EVERY == 0 or (
        index == last and last % MAJOR_TICK_EVERY >= MAJOR_TICK_EVERY // 2 + 1
    )


def column_chart(breakdown: Breakdown) -> ColumnChart:
    lines = breakdown.lines
    largest = max((line.amount for line in lines), default=Decimal(0))
    baseline = PLOT_TOP + PLOT_HEIGHT
    slot = Decimal(100) / max(MIN_SLOTS, len(lines))
    columns = []
    for index, line in enumerate(lines):
        height = 0
        if largest > 0 and line.amount > 0:
            scaled = line.amount * PLOT_HEIGHT / largest
            height = max(1, int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP)))
        day = line.day
        major = _major_tick(index, len(lines))
        columns.append(
            Column(
                line=line,
                x=_percent(slot * index + slot * (1 - COLUMN_FILL) / 2),
                width=_percent(slot * COLUMN_FILL),
                center=_percent(slot * index + slot / 2),
                y=baseline - height,
                height=height,
                tick=str(day.day) if day is not None else line.label,
                major=major,
            )
        )
    return ColumnChart(
        breakdown=breakdown,
        columns=columns,
        largest_text=format_usd(largest),
        plot_top=PLOT_TOP,
        baseline=baseline,
        tick_y=baseline + AXIS_GAP,
        height=baseline + AXIS_GAP + 6,
    )
