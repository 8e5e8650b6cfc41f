"""The soak (``manage.py bench_soak``) at a tiny size: a few seconds of the mixed load through a
real Daphne studio. What is asserted is that every kind ran, nothing failed, and the figures the
README reports are there (RSS samples, error rate, latency percentiles), never wall-clock
limits."""

from __future__ import annotations

import pytest

from generation.benchmarks.soak import run_soak

pytestmark = pytest.mark.timeout(300)


def test_a_short_soak_runs_every_kind_without_errors_and_reports_its_figures() -> None:
    lines: list[str] = []
    result = run_soak(
        0.15,
        lanes={"script": 2, "roundtable": 1, "video": 1},
        sample_seconds=3,
        job_seconds=(1.0, 1.0),
        progress=lines.append,
    )

    assert result["benchmark"] == "soak"
    assert result["problems"] == [] and result["server_log_problems"] == []
    assert result["runs_failed"] == 0 and result["error_rate"] == 0.0
    for kind in ("script", "roundtable", "video"):
        figures = result["kinds"][kind]
        assert figures["finished"] >= 1 and figures["failed"] == 0, kind
        assert figures["latency_seconds"]["n"] == figures["finished"]
        assert figures["latency_seconds"]["p50"] > 0
    assert result["kinds"]["script"]["first_text_seconds"]["n"] >= 1
    assert result["kinds"]["roundtable"]["first_text_seconds"]["n"] >= 1
    assert len(result["rss_mb"]) >= 3
    assert all(sample["rss_mb"] > 0 for sample in result["rss_mb"])
    assert lines and all(line.startswith("minute ") and " rss " in line for line in lines)
