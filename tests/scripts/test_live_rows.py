"""Teammates see scripts live, through the real ASGI application: a script an editor starts
appears at once in a viewer's scripts list and on the project page, its status follows the
run ("Writing, N %", at most once a second), and it changes state there when the run ends."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aura_site.asgi import application
from generation.runs.models import Run
from generation.scripts import live as script_live
from generation.scripts.models import Script
from tests.scripts.conftest import _providers
from tests.scripts.test_pipeline import start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]

PERCENT = re.compile(r"Writing, (\d+) %")


@pytest.fixture
def connect() -> Callable[..., Any]:
    @asynccontextmanager
    async def open_socket(user: Any, path: str) -> AsyncIterator[WebsocketCommunicator]:
        def handshake() -> list[tuple[bytes, bytes]]:
            client = Client()
            client.force_login(user)
            client.get("/accounts/")
            cookie = "; ".join(f"{k}={m.value}" for k, m in client.cookies.items())
            return [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]

        headers = await sync_to_async(handshake)()
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect()
        assert connected, code
        try:
            yield communicator
        finally:
            await communicator.disconnect()

    return open_socket


@pytest.fixture
def paced(settings: Any) -> None:
    """RuleBased writing slowly enough for a few progress messages."""
    _providers(settings)
    providers = dict(settings.LLM_PROVIDERS)
    providers["rulebased"] = {**providers["rulebased"], "OPTIONS": {"pace_ms": 25}}
    settings.LLM_PROVIDERS = providers
    from generation.providers import registry

    registry.reset()


async def _until(communicator: WebsocketCommunicator, needle: str, limit: int = 400) -> str:
    for _ in range(limit):
        message = await communicator.receive_from(timeout=20)
        if needle in message:
            return message
    raise AssertionError(f"no message with {needle!r}")


async def test_a_teammates_script_appears_moves_and_ends_in_the_list(
    team: Any, paced: None, connect: Callable[..., Any]
) -> None:
    project = team.project
    async with (
        connect(team.viewer, f"/ws/projects/{project.pk}/scripts/") as listing,
        connect(team.viewer, f"/ws/projects/{project.pk}/") as page,
    ):
        snapshot = await listing.receive_from()
        assert 'id="script-rows"' in snapshot and "No scripts yet" in snapshot
        assert "Recording clean voice-overs" not in await page.receive_from()

        script, run = await sync_to_async(start)(team, duration_seconds=240)
        row = f'id="script-{script.pk}-row"'

        appeared = await _until(listing, row)
        assert 'hx-swap-oob="true"' in appeared
        assert "Recording clean voice-overs at home" in appeared
        assert f'href="/projects/{project.pk}/scripts/{script.pk}/"' in appeared
        assert 'data-status="generating"' in appeared
        section = await _until(page, 'id="project-scripts"')
        assert f'id="project-script-{script.pk}"' in section and "Writing" in section

        status_id = f'id="script-{script.pk}-status"'
        percents: list[int] = []
        while len(percents) < 2:
            message = await _until(listing, status_id)
            if 'data-status="generating"' not in message or "script-rows" in message:
                continue
            assert 'hx-swap-oob="true"' in message
            assert f'href="/projects/{project.pk}/scripts/{script.pk}/"' in message
            found = PERCENT.search(message)
            assert found, message
            percents.append(int(found.group(1)))
        assert percents == sorted(percents) and percents[-1] > percents[0]
        assert percents[0] >= 0 and percents[-1] <= 99
        on_page = await _until(page, status_id)
        assert PERCENT.search(on_page)

        ended = await _until(listing, 'data-status="ready"')
        assert row in ended and "Ready" in ended and "Writing" not in ended
        ended_section = await _until(page, 'data-status="ready"')
        assert f'id="project-script-{script.pk}"' in ended_section
        assert "finished the script" in ended_section

    finished = await Run.objects.aget(pk=run.pk)
    assert finished.status == "succeeded"
    assert (await Script.objects.aget(pk=script.pk)).status == "ready"


async def test_progress_is_sent_at_most_once_a_second_and_only_on_change(
    team: Any, paced: None, monkeypatch: Any
) -> None:
    sent: list[tuple[float, int, str, dict[str, Any]]] = []
    real = script_live.live.project_progress

    async def record(project_id: int, product: str, data: dict[str, Any]) -> None:
        sent.append((time.monotonic(), project_id, product, data))
        await real(project_id, product, data)

    monkeypatch.setattr(script_live.live, "project_progress", record)
    script, run = await sync_to_async(start)(team, duration_seconds=240)
    while (await Run.objects.aget(pk=run.pk)).is_active:
        await asyncio.sleep(0.1)

    assert len(sent) >= 2, sent
    assert {(p, product) for _, p, product, _ in sent} == {(team.project.pk, "scripts")}
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(sent)]
    assert min(gaps) >= script_live.PROGRESS_INTERVAL_SECONDS * 0.9, gaps
    shown = [(d["label"], d["percent"]) for *_, d in sent]
    assert all(a != b for a, b in itertools.pairwise(shown)), shown
    assert all(d["script_id"] == script.pk and d["run_id"] == str(run.pk) for *_, d in sent)


async def test_a_stranger_cannot_follow_the_list(team: Any, connect: Callable[..., Any]) -> None:
    def handshake() -> list[tuple[bytes, bytes]]:
        client = Client()
        client.force_login(team.outsider)
        client.get("/accounts/")
        cookie = "; ".join(f"{k}={m.value}" for k, m in client.cookies.items())
        return [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]

    headers = await sync_to_async(handshake)()
    communicator = WebsocketCommunicator(
        application, f"/ws/projects/{team.project.pk}/scripts/", headers=headers
    )
    connected, code = await communicator.connect()
    assert not connected and code == 4404
