"""The integration part of the suite, again on PostgreSQL and Redis.

Tests marked ``integration`` (database, channel layer, WebSockets) run in a subprocess with
``DATABASE_URL`` on a fresh PostgreSQL database (pytest-django creates ``test_<name>``) and
``REDIS_URL`` on a Redis database, so channels_redis, the Redis cache and Celery's broker are the
ones in use. Skipped with a reason when the services are absent; required when ``CI=true``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.services
@pytest.mark.timeout(900)
def test_integration_suite_on_postgresql_and_redis(require_services: None, tmp_path: Path) -> None:
    name = f"aura_{secrets.token_hex(4)}"
    redis_db = 1 + secrets.randbelow(15)
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}",
        AURA_DATA_DIR=str(tmp_path),
        AURA_EXPECT_SERVICES="1",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "integration",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
            "tests",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    suite = ET.parse(report).getroot()  # noqa: S314
    suite = suite if suite.tag == "testsuite" else suite[0]
    tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
    failures = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    assert failures == 0, output
    assert tests - skipped >= 40, f"only {tests - skipped} integration tests ran:\n{output}"
    ran = {case.get("name", "") for case in suite.iter("testcase") if case.find("skipped") is None}
    assert "test_running_on_the_services" in ran, output
