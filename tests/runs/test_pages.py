"""The minimal script page and the run page, through Django's test client."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.runs.models import Run, RunEvent, RunKind, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def running_run(team: object, text: str = "<b>Half</b> a script") -> Run:
    run = Run.objects.create(
        project=team.project,  # type: ignore[attr-defined]
        kind=RunKind.SCRIPT,
        created_by=team.editor,  # type: ignore[attr-defined]
        status=RunStatus.RUNNING,
        provider="openai",
        expected_tokens=100,
        input={"topic": "Tides"},
    )
    RunEvent.objects.create(run=run, seq=1, event="run", data={})
    RunEvent.objects.create(run=run, seq=2, event="chunk", data={"content": text})
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


def test_the_script_page_says_clearly_when_the_stream_limit_is_reached(team, settings):
    settings.AURA_MAX_STREAMS_PER_USER = 1
    running_run(team)
    client = client_for(team.editor)
    response = client.post(
        f"/runs/projects/{team.project.pk}/script/", {"topic": "Another one", "provider": "auto"}
    )
    assert response.status_code == 200
    assert "You already have 1 runs streaming" in response.content.decode()
    assert Run.objects.count() == 1


def test_viewers_cannot_start_and_strangers_do_not_see_the_page(team):
    url = f"/runs/projects/{team.project.pk}/script/"
    assert client_for(team.viewer).get(url).status_code == 200
    response = client_for(team.viewer).post(url, {"topic": "Tides", "provider": "auto"})
    assert response.status_code == 403
    assert client_for(team.outsider).get(url).status_code == 404
    assert Run.objects.count() == 0


def test_topic_errors_are_shown_on_the_form(team):
    response = client_for(team.editor).post(
        f"/runs/projects/{team.project.pk}/script/", {"topic": "no", "provider": "auto"}
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert Run.objects.count() == 0
