"""The hostile corpus (tests/fakes/hostile.py) through the Anthropic, Gemini and Ollama wire
formats (loopback fakes of each, tests/fakes/providers.py), with a hostile model name in each
provider's own metadata field: the script page and every WebSocket fragment a viewer receives
while the script streams show the payloads as text, and no markup of them comes alive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from aura_site.asgi import application
from generation.runs.fragments import render_stored_event
from generation.runs.kinds import spec_for
from generation.runs.models import Run, RunEvent
from generation.scripts.models import Script
from generation.scripts.panel import text_html, words_per_minute_of
from tests.fakes.hostile import (
    HOSTILE_MODEL,
    PAYLOADS,
    VISIBLE,
    audit_html,
    hostile_script,
    pieces,
)
from tests.fakes.providers import (
    NDJSON_HEADERS,
    SSE_HEADERS,
    FakeProviderServer,
    Pause,
    Reply,
    anthropic_events,
    gemini_chunk,
    ndjson,
    ollama_line,
    sse,
)
from tests.runs.conftest import ORIGIN, PanelView
from tests.scripts.conftest import _providers

pytestmark = pytest.mark.django_db(transaction=True)

PAUSE = Pause(0.004)


def _paced(events: list[bytes]) -> list[bytes | Pause]:
    paced: list[bytes | Pause] = []
    for event in events:
        paced.extend((event, PAUSE))
    return paced


def anthropic_reply(text: str) -> Reply:
    return Reply(
        200, dict(SSE_HEADERS), _paced(anthropic_events(pieces(text), model=HOSTILE_MODEL))
    )


def gemini_reply(text: str) -> Reply:
    cut = pieces(text)
    events = []
    for index, piece in enumerate(cut):
        last = index == len(cut) - 1
        chunk = gemini_chunk(
            piece,
            finish="STOP" if last else None,
            usage={"promptTokenCount": 7, "candidatesTokenCount": index + 1},
        )
        chunk["modelVersion"] = HOSTILE_MODEL
        events.append(sse(chunk, newline="\r\n"))
    return Reply(200, dict(SSE_HEADERS), _paced(events))


def ollama_reply(text: str) -> Reply:
    lines = [ndjson(ollama_line(piece, model=HOSTILE_MODEL)) for piece in pieces(text)]
    lines.append(
        ndjson(
            ollama_line(
                "",
                done=True,
                model=HOSTILE_MODEL,
                done_reason="stop",
                prompt_eval_count=26,
                eval_count=len(lines),
                eval_duration=11000000,
            )
        )
    )
    return Reply(200, dict(NDJSON_HEADERS), _paced(lines))


PROVIDERS: dict[str, tuple[Callable[[str], Reply], Callable[[str], dict[str, Any]]]] = {
    "anthropic": (
        anthropic_reply,
        lambda url: {"api_key": "sk-ant-test", "base_url": url, "model": "claude-sonnet-4-5"},
    ),
    "gemini": (
        gemini_reply,
        lambda url: {"api_key": "gemini-test", "base_url": url, "model": "gemini-2.5-flash"},
    ),
    "ollama": (
        ollama_reply,
        lambda url: {"base_url": url, "model": "llama3.2", "explicit": True},
    ),
}


@pytest.fixture(params=sorted(PROVIDERS))
def hostile_provider(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    reply, options = PROVIDERS[request.param]
    with FakeProviderServer() as fake:
        fake.push(reply(hostile_script()))
        _providers(settings, **{request.param: options(fake.base_url)})
        yield request.param


def assert_inert(html: str, where: str) -> str:
    problems, text = audit_html(html)
    assert not problems, (where, problems)
    return text


async def _watch(run: Any, cookie: str) -> list[str]:
    """Every message a viewer's socket receives, from the snapshot to the close."""
    communicator = WebsocketCommunicator(
        application,
        f"/ws/runs/{run.pk}/",
        headers=[ORIGIN, (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, code = await communicator.connect(timeout=10)
    assert connected, code
    messages: list[str] = []
    while True:
        output = await communicator.receive_output(timeout=60)
        if output["type"] == "websocket.close":
            return messages
        messages.append(output["text"])


def test_hostile_output_of_each_wire_format_is_text_on_the_page_and_in_the_fragments(
    hostile_provider: str, team: Any, wait_run: Any
) -> None:
    client = Client()
    client.force_login(team.editor)
    viewer = Client()
    viewer.force_login(team.viewer)
    response = client.post(
        reverse("scripts:new", args=[team.project.pk]),
        {
            "topic": "Night photography for beginners",
            "platform": "youtube",
            "duration_seconds": "60",
            "delivery": "conversational",
            "template": "tutorial",
            "persona": "",
            "model": "",
            "audience": "",
            "tone": "",
            "kp_text": ["Use a tripod"],
            "kp_priority": ["should"],
            "provider": hostile_provider,
            "streaming": "on",
        },
    )
    assert response.status_code == 302
    script = Script.objects.get()
    assert script.last_run_id is not None
    run = Run.objects.get(pk=script.last_run_id)
    messages = async_to_sync(_watch)(run, viewer.cookies["sessionid"].value)
    run = wait_run(run.pk)
    assert run.status == "succeeded", (run.status, run.error_message)
    assert run.provider == hostile_provider

    view = PanelView(run.dom_id)
    for number, message in enumerate(messages):
        assert_inert(message, f"{hostile_provider} ws message {number}")
        view.apply(message)
    assert view.appends >= 1, "the viewer saw no live text fragment"
    # The live text is drawn as the saved script is, section by section: what the viewer ends
    # up with reads exactly as the stored text drawn the same way.
    shown = assert_inert(view.sections_html, f"{hostile_provider} live text")
    assert PAYLOADS["script"] in shown and PAYLOADS["hx-on"] in shown
    drawn = text_html(run.dom_id, run.text, words_per_minute_of(run))
    assert shown == assert_inert(drawn, f"{hostile_provider} stored text")

    script.refresh_from_db()
    page = client.get(script.get_absolute_url())
    text = assert_inert(page.content.decode(), f"{hostile_provider} script page")
    for piece in VISIBLE:
        assert piece in text, piece
    live = assert_inert(client.get(f"/runs/{run.pk}/").content.decode(), "run page")
    assert PAYLOADS["img-onerror"] in live
    spec = spec_for("script")
    for event in RunEvent.objects.filter(run=run).order_by("seq"):
        assert_inert(
            render_stored_event(run, spec, event.event, event.data, event.part),
            f"{hostile_provider} event {event.seq} {event.event}",
        )
