"""Admission by measured load: a process whose run loop runs late refuses new runs up front
(429 ``server_busy`` with ``Retry-After``) and takes them again once it has caught up; a loop
that has stopped no longer counts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from generation.runs import load
from tests.api_client import api_for
from tests.scripts.conftest import team

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_loop")]
__all__ = ["team"]

CEILING_MS = 30


async def run_late(blocks: int = 6, seconds: float = 0.12) -> None:
    """Keep this loop busy, as a CPU-bound burst would, between short waits."""
    for _ in range(blocks):
        await asyncio.sleep(0.03)
        time.sleep(seconds)
    await asyncio.sleep(0.03)


async def test_a_late_loop_refuses_new_runs_until_it_has_caught_up(team: Any, settings: Any):
    settings.AURA_RUN_MAX_LOOP_LAG_MS = CEILING_MS
    probe = load.ensure_probe(asyncio.get_running_loop())
    editor = await api_for(team.editor)
    brief = {"project": team.project.pk, "topic": "Tides explained", "provider": "rulebased"}

    await run_late()
    assert probe.lag * 1000 > CEILING_MS, probe.lag
    refused = await editor.post("/api/v1/scripts", brief)
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"]["code"] == "server_busy"
    assert refused["Retry-After"] == "5"

    for _ in range(400):
        if not load.saturated():
            break
        await asyncio.sleep(0.05)
    assert not load.saturated(), probe.lag
    taken = await editor.post("/api/v1/scripts", brief)
    assert taken.status_code == 200, taken.content


def test_a_stopped_loop_no_longer_counts(settings: Any) -> None:
    settings.AURA_RUN_MAX_LOOP_LAG_MS = CEILING_MS
    loop = asyncio.new_event_loop()

    async def lagging() -> tuple[load.LoopLoad, bool]:
        probe = load.ensure_probe(asyncio.get_running_loop())
        await run_late()
        return probe, load.saturated()

    try:
        probe, while_running = loop.run_until_complete(lagging())
        assert while_running and probe.lag * 1000 > CEILING_MS
        assert not load.saturated(), "a stopped loop's last figure still refuses runs"
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
