"""The ``when`` template tag: one way of writing a moment, in UTC until the page's script
writes it in the viewer's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.utils import timezone as django_timezone

MOMENT = datetime(2026, 12, 3, 20, 39, 5, tzinfo=timezone(timedelta(hours=2)))


def render(style: str, value: object = MOMENT) -> str:
    source = "{% load studio %}{% when value " + (f'"{style}"' if style else "") + " %}"
    return Template(source).render(Context({"value": value}))


@pytest.mark.parametrize(
    ("style", "text"),
    [
        ("time", "18:39 UTC"),
        ("seconds", "18:39:05 UTC"),
        ("datetime", "3 Dec 2026, 18:39 UTC"),
        ("", "3 Dec 2026, 18:39 UTC"),
        ("date", "3 Dec 2026"),
    ],
)
def test_each_style_writes_the_moment_in_utc_for_the_script_to_localise(
    style: str, text: str
) -> None:
    expected_style = style or "datetime"
    assert render(style) == (
        f'<time datetime="2026-12-03T18:39:05+00:00" data-local="{expected_style}">{text}</time>'
    )


def test_ago_keeps_its_words() -> None:
    now = django_timezone.now()
    assert ">just now</time>" in render("ago", now)
    assert ">2\xa0hours ago</time>" in render("ago", now - timedelta(hours=2, minutes=5))
    assert 'data-local="ago"' in render("ago", now)


def test_nothing_for_no_moment_and_an_error_for_an_unknown_style() -> None:
    assert render("time", None) == ""
    with pytest.raises(TemplateSyntaxError):
        render("fortnight", datetime.now(UTC))
