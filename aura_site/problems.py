"""The error summary of a form: everything that stopped it, each problem linked to the field it
belongs to (templates/components/error_summary.html shows them next to Start)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that stopped a form, as its error summary lists it: ``href`` names the row or
    control it belongs to (empty for the form as a whole)."""

    message: str
    label: str = ""
    href: str = ""


def form_problems(form: Any = None, extra: Iterable[Problem] | None = None) -> list[Problem]:
    """What the error summary of ``form`` lists: the form's own errors (but those a form's
    ``summary_skip_codes`` names, which it lists itself), each field's errors linked to the
    field's row (``row-<id>``, as forms/field.html renders it), the form's own
    ``summary_problems()`` and then ``extra`` (a view's)."""
    problems: list[Problem] = []
    if form is not None and form.is_bound:
        skip = set(getattr(form, "summary_skip_codes", ()))
        for error in form.non_field_errors().as_data():
            if error.code not in skip:
                problems.extend(Problem(str(message)) for message in error.messages)
        for field in form.visible_fields():
            if field.errors:
                problems.append(
                    Problem(" ".join(field.errors), str(field.label), f"#row-{field.auto_id}")
                )
        own = getattr(form, "summary_problems", None)
        if callable(own):
            problems.extend(own())
    problems.extend(extra or ())
    return problems
