"""The run core's fragments with every hostile payload (tests/fakes/hostile.py) as model text,
model name, provider switch reason, stage message and notice: each is escaped, so the payload is
the fragment's text and no markup of it comes alive."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template.loader import render_to_string

from generation.runs.fragments import (
    SHARED,
    Metrics,
    metrics_html,
    render_notice,
    text_append_html,
    text_replace_html,
)
from generation.runs.models import Run
from tests.fakes.hostile import ALL, HOSTILE_MODEL, audit_html

CASES = sorted(ALL.items())


def inert(html: str) -> str:
    problems, text = audit_html(html)
    assert not problems, problems
    return text


def test_a_text_append_shows_the_payload_as_its_text() -> None:
    for name, payload in CASES:
        html = text_append_html("run-1-main", payload)
        assert html.startswith('<div id="run-1-main-text" hx-swap-oob="beforeend">'), name
        assert inert(html) == payload, name
        replaced = text_replace_html("run-1-main", {"text": payload})
        assert payload.strip() in inert(replaced), name


@pytest.mark.django_db
def test_the_metrics_switches_stage_and_notice_escape_what_a_provider_says(team: object) -> None:
    run = Run.objects.create(project=team.project, kind="probe")  # type: ignore[attr-defined]
    for _name, payload in CASES:
        check_run_fragments(run, payload)


def check_run_fragments(run: Run, payload: str) -> None:
    metrics = Metrics(
        status="running",
        provider=payload,
        model=HOSTILE_MODEL,
        tokens=3,
        expected_tokens=10,
        tokens_per_second=1.0,
        ttft_ms=5,
        cost=Decimal("0"),
        expected_cost=Decimal("0"),
        error_message=payload,
    )
    assert HOSTILE_MODEL in inert(metrics_html(run.dom_id, metrics, oob=True))
    switch = {"part": payload, "from": payload, "to": "openai", "reason": payload}
    assert payload.strip() in inert(
        render_to_string(f"{SHARED}#switch_oob", {"run": run, "switch": switch})
    )
    assert payload.strip() in inert(
        render_to_string(f"{SHARED}#stage", {"run": run, "stage": payload, "oob": True})
    )
    assert payload.strip() in inert(render_notice(run, payload, error=True, oob=True))
