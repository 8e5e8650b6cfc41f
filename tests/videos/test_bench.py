"""The video benchmark (``manage.py bench_videos``) at a tiny size: five jobs on a fake custom
server that renders each for two seconds, through a real Daphne studio. What is asserted is the
shape of the figures and the correctness counts (every job succeeded, each task submitted once,
one attempt and one download each), never wall-clock limits. And the fake's own counting: a
repeated idempotency key is the same task, counted as a second submit."""

from __future__ import annotations

import time

import httpx
import pytest

from generation.benchmarks.fake_neura import FakeNeuraProcess, parse_seconds
from generation.benchmarks.videos import run_benchmark, schedule

pytestmark = pytest.mark.timeout(300)

SUMMARY_KEYS = {"p50", "p95", "p99", "max", "n"}


def test_the_benchmark_runs_five_jobs_to_success_each_submitted_once() -> None:
    result = run_benchmark(
        [5], job_seconds=(2.0, 2.0), followers=5, poll_seconds=0.5, poll_max_seconds=1.0
    )

    assert result["benchmark"] == "videos"
    assert result["config"]["runner"] == "inline"
    [phase] = result["results"]
    assert phase["n"] == 5 and phase["jobs_started"] == 5
    assert phase["problems"] == []
    assert phase["all_succeeded"] is True and phase["jobs_succeeded"] == 5
    assert phase["job_statuses"] == {"succeeded": 5}
    assert phase["each_submitted_exactly_once"] is True
    assert phase["fake_tasks"] == 5 and phase["fake_submits"] == 5
    assert phase["jobs_not_submitted_exactly_once"] == 0
    assert phase["jobs_with_more_than_one_attempt"] == 0
    assert phase["tasks_not_downloaded_exactly_once"] == 0
    assert phase["jobs_waiting_at_once_peak"] == 5
    assert phase["followed_over_sse"] == 5
    for name in (
        "poll_lateness_ms",
        "finish_to_shown_ms",
        "finish_to_shown_ms_sse",
        "completed_poll_to_shown_ms",
        "excess_over_interval_ms",
    ):
        assert set(phase[name]) == SUMMARY_KEYS, name
    assert phase["finish_to_shown_ms"]["n"] == 5
    assert phase["finish_to_shown_ms_sse"]["n"] == 5
    assert phase["finish_to_shown_ms"]["p50"] > 0
    assert phase["polls"] >= 5 * 2 and phase["poll_rps_peak"] >= 1
    assert phase["worker_rss_mb_peak"] >= phase["worker_rss_mb_before"] > 0
    assert phase["worker_threads_peak"] >= 1
    assert phase["worker_cpu_seconds"] >= 0
    aims = result["aims"]
    assert aims["n5_all_succeeded_each_submitted_once"] is True
    assert set(aims["n5_finish_to_shown_p99_under_its_poll_interval_plus_1s"]) == {
        "excess_p99_ms",
        "met",
    }
    assert "n5_finish_to_shown_p99_under_poll_max_plus_1s" in aims


def test_the_fake_counts_a_repeated_submit_of_one_task_and_finishes_it_on_time() -> None:
    with FakeNeuraProcess(0.5, 0.5, api_key="k") as fake:
        headers = {"x-neura-api-key": "k"}
        body = {"prompt": "a harbour", "idempotency_key": "run:1"}
        first = httpx.post(f"{fake.base_url}/api/v1/video/generate", json=body, headers=headers)
        again = httpx.post(f"{fake.base_url}/api/v1/video/generate", json=body, headers=headers)
        assert first.status_code == again.status_code == 202
        task_id = first.json()["task_id"]
        assert again.json()["task_id"] == task_id
        url = f"{fake.base_url}/api/v1/task/{task_id}"
        assert httpx.get(url, headers=headers).json()["status"] == "processing"
        assert httpx.get(url).status_code == 401
        time.sleep(0.6)
        done = httpx.get(url, headers=headers).json()
        assert done["status"] == "completed"
        clip = httpx.get(done["result_url"])
        assert clip.headers["content-type"] == "video/mp4"
        assert clip.content[4:8] == b"ftyp"
        [task] = fake.stats()["tasks"]
    assert task["key"] == "run:1" and task["submits"] == 2
    assert len(task["polls"]) == 2 and task["downloads"] == 1
    assert task["completed_poll_at"] >= task["finish_at"]


def test_the_poll_schedule_and_the_job_times() -> None:
    assert schedule(5, 20, 7) == [5, 5, 7.5, 11.25, 16.875, 20, 20]
    assert parse_seconds("45") == (45.0, 45.0)
    assert parse_seconds("30-60") == (30.0, 60.0)
    with pytest.raises(ValueError):
        parse_seconds("60-30")
