"""The ledger rows behind a spend view as CSV: one row per cost record, its cost exact (the
ledger's 8 decimal places, as stored), so the column sums to the ledger to the cent and beyond.

Text a person or a provider chose (a model's name, a username, a project's name, an error's
kind) is written so that a spreadsheet never runs it: a cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a line break (after any spaces) gets a leading ``'`` (OWASP's CSV
injection advice). Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from generation.costs.models import CostRecord
from generation.spend.selectors import PRODUCT_LABELS

COST_PLACES = Decimal("0.00000001")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")

HEADER = (
    "id",
    "created_at_utc",
    "project_id",
    "project",
    "user",
    "product",
    "run_id",
    "part",
    "provider",
    "model",
    "unit",
    "input_tokens",
    "output_tokens",
    "quantity",
    "cost_usd",
    "reported",
    "outcome",
    "error_kind",
    "attempt",
)


def cell_text(value: str) -> str:
    """``value`` as a spreadsheet shows it and never evaluates it."""
    if value.lstrip(" ").startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def cost_text(cost: Decimal) -> str:
    return format(cost.quantize(COST_PLACES), "f")


def _row(record: CostRecord, product: str) -> list[str | int]:
    project = record.project
    user = record.user
    return [
        record.pk,
        record.created_at.isoformat(),
        record.project_id or "",
        cell_text(project.name) if project is not None else "",
        cell_text(user.get_username()) if user is not None else "",
        PRODUCT_LABELS.get(product, product),
        cell_text(record.run_id),
        cell_text(record.part),
        cell_text(record.provider),
        cell_text(record.model),
        record.unit,
        record.input_tokens,
        record.output_tokens,
        "" if record.quantity is None else format(record.quantity, "f"),
        cost_text(record.cost),
        "yes" if record.reported else "no",
        record.outcome,
        cell_text(record.error_kind),
        record.attempt,
    ]


def ledger_csv(rows: Iterable[tuple[CostRecord, str]]) -> str:
    """The records (each with its product key) as CSV text, a header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for record, product in rows:
        writer.writerow(_row(record, product))
    return out.getvalue()
