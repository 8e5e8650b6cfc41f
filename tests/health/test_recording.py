"""Counting calls: one bucket row per provider, call kind and minute; latency percentiles from
the recorded calls; what a stored message may hold; a video job's submits and polls."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from generation.health.models import ProviderMinute
from generation.health.recording import call_record, redact, secrets_of
from generation.health.selectors import percentile, providers_health


def record(n: int, ms: float, **extra: Any) -> None:
    for _ in range(n):
        call_record(
            family="llm",
            provider="openai",
            call="generate",
            ok=True,
            latency_ms=ms,
            ttft_ms=ms / 3,
            **extra,
        )


@pytest.mark.django_db
def test_latency_percentiles_from_recorded_calls(settings: Any) -> None:
    from tests.health.conftest import configure_llms

    configure_llms(settings, openai={"api_key": "sk-test-percentiles-1234"})
    record(90, 150)
    record(10, 3000)
    record(50, 40, at=timezone.now() - timedelta(hours=5))
    # every call of the last hour in one row: one row per provider, call kind and minute
    assert ProviderMinute.objects.filter(minute__gte=timezone.now() - timedelta(minutes=2)).count()
    assert ProviderMinute.objects.count() <= 3

    openai = {item.alias: item for item in providers_health("llm")}["openai"]
    hour, day = openai.hour, openai.day
    assert hour.calls == 100 and hour.failures == 0 and hour.error_rate == 0
    # 90 calls in (100, 250] ms, 10 in (2000, 4000]: linear within a bin
    assert hour.p50_ms == 183  # 100 + 150 * 50/90
    assert hour.p95_ms == 3000  # 2000 + 2000 * 5/10
    assert hour.ttft_p50_ms == 56  # 90 first texts in (0, 100] ms: 100 * 50/90
    assert day.calls == 150
    assert day.p50_ms is not None and day.p50_ms < hour.p50_ms  # the 40 ms calls count today
    assert openai.state == "healthy"


def test_the_percentile_of_a_histogram() -> None:
    bins = [0] * 12
    assert percentile(bins, 0.5) is None
    bins[0] = 4  # four calls of at most 100 ms
    assert percentile(bins, 0.5) == 50
    bins[11] = 100  # and a hundred slower than the last bound
    assert percentile(bins, 0.95) == 120000


@pytest.mark.django_db
def test_failures_rejections_and_the_last_error() -> None:
    for kind in ("timeout", "bad_request", "content_filter", "unavailable"):
        call_record(
            family="video",
            provider="runway",
            call="poll",
            ok=False,
            error_kind=kind,
            message=f"{kind} happened",
        )
    row = ProviderMinute.objects.get()
    assert (row.calls, row.failures, row.rejected) == (4, 2, 2)
    assert row.last_error_kind == "unavailable"
    assert row.last_error_message == "unavailable happened"
    assert row.total_le_100 == 0  # failures have no latency


def test_a_message_keeps_no_credentials() -> None:
    key = "key_live_0123456789abcdefghij"
    options = {"api_key": key, "base_url": "https://api.example.com", "model": "m"}
    assert secrets_of(options) == (key,)
    message = redact(
        f"401 for {key}\n Authorization: Bearer abcdef123456.xyz "
        "https://x.test/v1/models?key=AIzaSyA-1234567890abcdefghijklmno&page=2 "
        "hf_abcdefghijklmnopqrstuvwxyz sk-proj-ABCDEFGHIJKLMNOP",
        secrets_of(options),
    )
    assert key not in message and "ghij" in message
    assert "abcdef123456" not in message and "Bearer …" in message
    assert "AIzaSy" not in message and "?key=…&page=2" in message
    assert "hf_abcdefghijklmnopqrstuvwxyz" not in message
    assert "sk-proj-ABCDEFGHIJKLMNOP" not in message
    assert "\n" not in message
    assert len(redact("x" * 2000)) == 500


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("server_loop")
async def test_a_video_jobs_submit_and_polls_are_counted(
    settings: Any, tmp_path: Path, make_user: Any, make_project: Any
) -> None:
    from asgiref.sync import sync_to_async

    from generation.health.selectors import aproviders_health
    from generation.runs.services import run_wait_ended
    from tests.api_client import api_for
    from tests.fakes.videos import FakeNeura
    from tests.videos.conftest import configure_videos
    from tests.videos_media.make import moving_pattern_mp4
    from videos.models import VideoJob

    settings.AURA_VIDEO_POLL_SECONDS = 0.05
    settings.AURA_VIDEO_POLL_MAX_SECONDS = 0.2
    settings.STORAGES = {
        **settings.STORAGES,
        "videos": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "videos")},
        },
    }
    owner = await sync_to_async(make_user)()
    project = await sync_to_async(make_project)(owner=owner)
    with FakeNeura(video=moving_pattern_mp4(seconds=2.0)) as neura:
        neura.next_job(["queued", "processing", "completed"])
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": neura.api_key})
        client = await api_for(owner)
        response = await client.post(
            "/api/v1/videos",
            {"project": project.pk, "prompt": "A harbour at dusk", "model": "neura"},
        )
        assert response.status_code == 202, response.content
        started = response.json()
        await run_wait_ended(started["run_id"], 30)
        polls = [r for r in neura.api_requests if r.method == "GET" and "/task/" in r.path]
    job = await VideoJob.objects.aget(pk=started["id"])
    assert job.status == "succeeded"
    rows = {row.call: row async for row in ProviderMinute.objects.filter(provider="neura")}
    assert rows["submit"].calls == 1 and rows["submit"].failures == 0
    assert rows["poll"].calls == len(polls) >= 3
    neura_health = {item.alias: item for item in await aproviders_health("video")}["neura"]
    assert neura_health.state == "healthy"
    assert neura_health.hour.calls == 1 + len(polls)
    assert neura_health.hour.p50_ms is not None and not neura_health.has_ttft
