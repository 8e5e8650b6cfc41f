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


def test_a_cancelled_run_says_who_cancelled_it_and_when(team):
    from django.utils import timezone

    run = running_run(team)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.CANCELLED,
        cancel_requested=True,
        cancelled_by=team.editor,
        finished_at=timezone.now(),
    )
    RunEvent.objects.create(run=run, seq=3, event="cancelled", data={"text": "<b>Half</b>"})
    body = client_for(team.viewer).get(f"/runs/{run.pk}/").content.decode()
    note = body.split('data-testid="run-cancelled-note">')[1].split("</p>")[0]
    assert note.startswith(f"Cancelled by {team.editor.get_username()} at <time datetime=")
    assert 'data-local="time"' in note


def test_the_last_owner_is_not_offered_leave(team, make_user, add_member):
    owner_page = client_for(team.owner).get(f"/projects/{team.project.pk}/").content.decode()
    assert 'data-testid="project-leave"' not in owner_page
    viewer_page = client_for(team.viewer).get(f"/projects/{team.project.pk}/").content.decode()
    assert 'data-testid="project-leave"' in viewer_page
    add_member(team.project, make_user("second"), "owner")
    owner_page = client_for(team.owner).get(f"/projects/{team.project.pk}/").content.decode()
    assert 'data-testid="project-leave"' in owner_page
