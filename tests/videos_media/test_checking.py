"""The clip check in the processes beside the worker: the same verdicts and facts as in the
worker, a refusal keeps its reason and code across the process boundary, and a dead check
process is replaced."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from tests.videos_media import make
from videos import checking, media


@pytest.fixture
def check_processes(settings: Any) -> Any:
    settings.AURA_VIDEO_CHECK_PROCESSES = 1
    checking.checks_stop()
    yield
    checking.checks_stop()


async def test_a_moving_clip_passes_in_a_check_process(check_processes: Any) -> None:
    body = make.moving_pattern_mp4(seconds=2.0)
    facts, thumbnail = await checking.check_clip(body)
    assert facts == media.check_real_video(body)
    assert facts.moving and facts.frames > 1
    assert thumbnail.startswith(b"\xff\xd8") and thumbnail.endswith(b"\xff\xd9")
    pool = checking._pool
    assert pool is not None
    children = [process.pid for process in pool._processes.values()]
    assert children and os.getpid() not in children


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (make.still_mp4(), "still"),
        (make.slideshow_mp4(), "slideshow"),
        (b"not a video at all", "unreadable"),
    ],
    ids=["still", "slideshow", "garbage"],
)
async def test_a_refusal_keeps_its_reason_and_code(
    check_processes: Any, body: bytes, code: str
) -> None:
    with pytest.raises(media.NotAVideo) as refused:
        await checking.check_clip(body)
    assert refused.value.code == code
    with pytest.raises(media.NotAVideo) as here:
        media.check_real_video(body)
    assert str(refused.value) == str(here.value)


async def test_a_dead_check_process_is_replaced(check_processes: Any) -> None:
    body = make.moving_pattern_mp4(seconds=1.0)
    await checking.check_clip(body)
    pool = checking._pool
    assert pool is not None
    for pid in list(pool._processes):
        os.kill(pid, signal.SIGKILL)
    facts, _ = await checking.check_clip(body)
    assert facts.moving
    assert checking._pool is not None and checking._pool is not pool


async def test_with_no_check_processes_the_check_runs_in_a_thread(settings: Any) -> None:
    settings.AURA_VIDEO_CHECK_PROCESSES = 0
    checking.checks_stop()
    facts, _ = await checking.check_clip(make.moving_pattern_mp4(seconds=1.0))
    assert facts.moving
    assert checking._pool is None
