"""The script run panel: the live text drawn section by section as the saved script is (model
output escaped), and how an ended run reads: one headline that agrees with the script's own
validation, a failure as one sentence with Continue and Try another provider, money in the
studio's formatter."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from generation.runs.models import Run
from generation.scripts.models import ScriptStatus
from generation.scripts.panel import live_text, text_html
from tests.scripts.fake_llm import Answer
from tests.scripts.test_pipeline import GOOD, MISSING, start


class _View:
    """What ``live_text`` reads of a run being executed: its input."""

    def __init__(self) -> None:
        self.run = Run(input={"delivery": "conversational"})


def fragments(before: str, content: str) -> str:
    return live_text(_View(), "run-x", before, content)


def test_a_chunk_that_grows_a_section_appends_only_its_words() -> None:
    html = fragments("## Hook\n\nThe moon", " pulls <the> sea.\nTides")
    assert html == (
        '<span id="run-x-s0-body" hx-swap-oob="beforeend"> pulls &lt;the&gt; sea.<br>Tides</span>'
    )
    long_body = "## Hook\n\n" + "word " * 20_000
    assert len(fragments(long_body, "more words")) < 100


def test_a_section_that_grows_and_a_new_one_and_a_heading_that_changes() -> None:
    html = fragments("## Hook\n\nThe moon", "light\n## Tide\n\nThe sea")
    grew, started = html.split('<div id="run-x-text" hx-swap-oob="beforeend">')
    assert grew == '<span id="run-x-s0-body" hx-swap-oob="beforeend">light</span>'
    assert started.count("<section") == 1 and 'id="run-x-s1"' in started
    assert "<h3>Tide " in started
    changed = fragments("## Hook\n\nThe moon", "\nX")
    assert "<section" not in changed and "<br>X" in changed
    retitled = fragments("## Ho", "ok\n\nThe moon")
    assert retitled.count("<section") == 1
    assert 'id="run-x-s0" hx-swap-oob="true"' in retitled and "<h3>Hook " in retitled


def test_a_heading_that_arrives_mid_stream_is_a_heading_at_once() -> None:
    first = fragments("", "## Hook\n\nThe moon")
    assert first.startswith('<div id="run-x-text" hx-swap-oob="beforeend"><section')
    assert 'id="run-x-s0"' in first and "##" not in first

    html = fragments("## Hook\n\nThe moon pulls.\n\n## Bo", "dy\n\nWater rises")
    # The finished section stays as it is; the one the chunk lands in is drawn again.
    assert 'id="run-x-s0"' not in html
    assert 'id="run-x-s1" hx-swap-oob="true"' in html and "<h3>Body " in html
    assert "Water rises" in html and "##" not in html

    started = fragments("## Hook\n\nThe moon pulls.\n", "\n## Body\n\nWater")
    assert 'id="run-x-s0"' not in started
    appended = '<div id="run-x-text" hx-swap-oob="beforeend"><section class="script-section"'
    assert f'{appended} id="run-x-s1">' in started


def test_a_line_that_stops_being_a_heading_redraws_the_whole_text() -> None:
    html = fragments("## Hook\n\nThe moon.\n\n**Body**", " is where it starts")
    assert html.startswith('<div id="run-x-text" class="stream-text script-text"')
    assert 'hx-swap-oob="true"' in html.split(">", 1)[0]
    assert "**Body** is where it starts" in html


def test_the_live_text_is_the_saved_renderer_and_escapes_model_output() -> None:
    hostile = '## Hook <img src=x onerror=alert(1)>\n\n<script>alert(1)</script> & "quotes"'
    html = fragments("", hostile)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in html
    whole = text_html("run-x", hostile, 150)
    assert "&lt;img src=x onerror=alert(1)&gt;" in whole and "<img" not in whole
    # The same section markup the saved script uses.
    assert re.search(r'<section class="script-section" id="run-x-s0"><h3>Hook ', whole)


pytestmark_db = pytest.mark.django_db(transaction=True)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytestmark_db
def test_a_done_run_that_falls_short_says_so_in_its_one_headline(
    team: Any, wait_run: Any, scripted_openai: Any
) -> None:
    scripted_openai.push(MISSING)
    script, run = start(team, provider="openai")
    run = wait_run(run.pk)
    script.refresh_from_db()
    assert run.status == "succeeded" and script.status == ScriptStatus.NEEDS_REVIEW
    assert script.current_version is not None
    failing = [
        check
        for check in script.current_version.validation["checks"]
        if not check["passed"] and check.get("required", True)
    ]
    body = client_for(team.viewer).get(f"/runs/{run.pk}/").content.decode()
    checks = f"{len(failing)} check{'s' if len(failing) != 1 else ''}"
    assert f'data-testid="run-status">Done, needs review: {checks}</b>' in body
    assert f'data-announce="Done, needs review: {checks}. ' in body
    assert "Succeeded" not in body.split('data-testid="run-summary"')[1].split("</p>")[0]
    # Money in the studio's one formatter: no raw Decimal digits.
    assert re.search(r'data-testid="run-summary">.*\$0\.\d{2,6}</span>', body)
    assert f"{run.cost:f}" not in body


@pytestmark_db
def test_a_failure_reads_as_one_sentence_with_continue_and_another_provider(
    team: Any, wait_run: Any, scripted_openai: Any
) -> None:
    scripted_openai.push(Answer(GOOD, cut_after=12))
    script, run = start(team, provider="openai")
    run = wait_run(run.pk)
    assert run.status == "failed"
    partial = script.versions.get()
    editor = client_for(team.editor).get(f"/runs/{run.pk}/").content.decode()
    sentence = re.search(r'data-testid="run-failure-sentence">([^<]+)</p>', editor)
    assert sentence, editor
    assert re.fullmatch(
        r"OpenAI stopped after \d+ tokens? \([^)]+\)\. The partial text is kept\.",
        sentence.group(1),
    )
    continue_url = f"/projects/{team.project.pk}/scripts/{script.pk}/continue/{partial.number}/"
    assert f'action="{continue_url}"' in editor
    assert 'name="provider" value="openai"' in editor
    assert 'data-testid="run-try-another"' in editor
    others = re.findall(r'<option value="([a-z]+)">', editor.split("run-try-another")[0])
    assert "openai" not in others and "rulebased" in others
    assert "<details" in editor.split('data-testid="run-error"')[0][-400:]
    viewer = client_for(team.viewer).get(f"/runs/{run.pk}/").content.decode()
    assert "run-failure-sentence" in viewer and "run-continue" not in viewer

    # Try another provider, from the panel's own form: the partial text goes on elsewhere.
    response = client_for(team.editor).post(continue_url, {"provider": "rulebased"})
    assert response.status_code == 302
    script.refresh_from_db()
    second = wait_run(script.last_run_id)
    assert second.status == "succeeded" and second.text.startswith(partial.text)


@pytest.fixture
def paced_openai(settings: Any) -> Any:
    """OpenAI answering GOOD (a script that passes) at 150 tokens/s: many chunk events."""
    from generation.benchmarks.fake_openai import FakeOpenAIServer
    from tests.scripts.conftest import _providers

    with FakeOpenAIServer(text=GOOD, tokens_per_second=150.0) as fake:
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": fake.base_url, "model": "gpt-4o-mini"},
        )
        yield fake


@pytestmark_db
@pytest.mark.usefixtures("server_loop")
async def test_a_viewer_that_lost_live_messages_is_made_whole_by_the_panel(
    team: Any, paced_openai: Any, settings: Any
) -> None:
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from aura_site.asgi import application
    from tests.runs.conftest import ORIGIN, session_cookie
    from tests.runs.lossy_layer import LossyChannelLayer

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.runs.lossy_layer.LossyChannelLayer"}}
    LossyChannelLayer.dropped = 0
    _, run = await sync_to_async(start)(team, provider="openai")
    headers = [ORIGIN, (b"cookie", await session_cookie(team.viewer))]
    communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
    assert (await communicator.connect())[0]
    messages: list[str] = []
    while True:
        output = await communicator.receive_output(timeout=20)
        if output["type"] == "websocket.close":
            break
        messages.append(output["text"])

    assert LossyChannelLayer.dropped >= 3
    appends = re.findall(
        rf'<div id="{run.dom_id}-text" hx-swap-oob="beforeend">(.*?)</div>',
        "".join(messages),
        re.S,
    )
    # Text only ever arrives as whole sections (never as raw text beside them), and a gap is
    # healed by the panel as it stands.
    assert all(append.startswith('<section class="script-section"') for append in appends)
    panels = [m for m in messages if f'<section id="{run.dom_id}"' in m]
    assert len(panels) > 2
    assert 'data-testid="run-status">Done</b>' in panels[-1]


@pytestmark_db
def test_with_streaming_switched_off_the_panel_shows_elapsed_time_and_cancel(
    team: Any, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from generation.runs.models import RunPart, RunStatus
    from generation.scripts.models import Script
    from tests.scripts.test_views import a_script

    settings.AURA_STREAMING_ENABLED = False
    script = a_script(team)
    run = Run.objects.create(
        project=team.project,
        kind="script",
        created_by=team.editor,
        status=RunStatus.RUNNING,
        provider="openai",
        input={"topic": "Tides", "delivery": "conversational"},
        started_at=timezone.now() - timedelta(seconds=75),
    )
    RunPart.objects.create(run=run, key="main", label="Script", status="running")
    Script.objects.filter(pk=script.pk).update(status=ScriptStatus.GENERATING, last_run_id=run.pk)

    html = client_for(team.editor).get(script.get_absolute_url()).content.decode()
    panel = html.split(f'<section id="{run.dom_id}"')[1].split("</section>\n\n</div>")[0]
    assert '<progress aria-label="Writing the script"></progress>' in panel
    assert re.search(r'data-testid="elapsed">1:1[5-9]</time>', panel)
    assert 'data-testid="run-cancel"' in panel and "data-run-bar" in panel
    assert 'data-testid="run-text"' not in panel
