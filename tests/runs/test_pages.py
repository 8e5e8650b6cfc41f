"""The run page of any kind, through Django's test client."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.runs.models import Run, RunEvent, RunPart, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def running_run(team: object, text: str = "<b>Half</b> a script") -> Run:
    run = Run.objects.create(
        project=team.project,  # type: ignore[attr-defined]
        kind="probe",
        created_by=team.editor,  # type: ignore[attr-defined]
        status=RunStatus.RUNNING,
        provider="openai",
        expected_tokens=100,
        input={"topic": "Tides"},
    )
    RunPart.objects.create(run=run, key="main", label="Text", status="running")
    RunEvent.objects.create(run=run, seq=1, event="run", data={})
    RunEvent.objects.create(run=run, seq=2, event="chunk", part="main", data={"content": text})
    return run


def test_the_run_page_shows_the_text_so_far_escaped_and_connects_live(team):
    run = running_run(team)
    page = client_for(team.viewer).get(f"/runs/{run.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "&lt;b&gt;Half&lt;/b&gt; a script" in body and "<b>Half" not in body
    assert f'ws-connect="/ws/runs/{run.pk}/"' in body and 'hx-ext="ws"' in body
    assert 'data-testid="run-cancel"' not in body
    editor_page = client_for(team.editor).get(f"/runs/{run.pk}/").content.decode()
    assert 'data-testid="run-cancel"' in editor_page
    assert client_for(team.outsider).get(f"/runs/{run.pk}/").status_code == 404


def test_a_failed_run_quotes_its_correlation_id_beside_the_error(team):
    run = running_run(team)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED,
        error_code="unavailable",
        error_message="OpenAI stopped (server error).",
        correlation_id="c0ffee1234abcd",
    )
    RunEvent.objects.create(
        run=run,
        seq=3,
        event="error",
        data={"code": "unavailable", "message": "OpenAI stopped (server error)."},
    )
    body = client_for(team.viewer).get(f"/runs/{run.pk}/").content.decode()
    assert "OpenAI stopped (server error)." in body
    assert '<code data-testid="run-correlation">c0ffee1234abcd</code>' in body
