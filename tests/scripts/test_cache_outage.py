"""The shared cache (Redis in the scaled-out set-up) keeps only advisory state, so its outage
fails nothing: a script run with Redis unreachable from start to end succeeds and records its
cost, every cache command falls back with one warning, and after Redis restarts (every
pooled connection closed by the server) the next command works without an error."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from generation.benchmarks.studio import free_port, process_stop
from generation.chain.circuit import CircuitBreaker
from generation.costs.models import CostRecord
from generation.providers.base import ErrorKind
from generation.scripts.offline import script_writer
from generation.scripts.prompt import brief_build, request_build
from tests.api_client import api_for
from tests.fakes.providers import FakeProviderServer, openai_stream
from tests.scripts.conftest import _providers, events_of


def _shared_cache(settings: Any, port: int) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "aura_site.cache.SharedCache",
            "LOCATION": f"redis://127.0.0.1:{port}",
            "KEY_PREFIX": "aura",
        }
    }


@pytest.fixture
def unreachable_cache(settings: Any) -> None:
    """The shared cache on a port nothing listens on."""
    _shared_cache(settings, free_port())


@pytest.mark.usefixtures("unreachable_cache")
def test_an_unreachable_cache_reads_nothing_drops_writes_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import aura_site.cache as shared

    shared._warned_at = 0.0
    with caplog.at_level(logging.WARNING, logger="aura_site.cache"):
        cache.set("k", 1)
        assert cache.get("k") is None
        assert cache.get("k", "none") == "none"
        assert cache.add("k", 1) is False
        assert cache.get_many(["k", "j"]) == {}
        assert cache.incr("k", 3) == 3
        assert cache.delete("k") is False
        assert cache.has_key("k") is False
        cache.delete_many(["k", "j"])
        cache.set_many({"k": 1})
    warnings = [r for r in caplog.records if r.name == "aura_site.cache"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "unreachable" in warnings[0].getMessage()


@pytest.mark.usefixtures("unreachable_cache")
async def test_the_circuit_breaker_without_its_cache_lets_calls_through() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown=30)
    assert await breaker.allow("openai") is True
    await breaker.record_failure("openai", ErrorKind.UNAVAILABLE)
    assert await breaker.allow("openai") is True
    await breaker.record_success("openai")
    assert (await breaker.snapshot("openai")).state == "closed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("server_loop", "unreachable_cache")
async def test_a_script_run_with_the_cache_unreachable_succeeds_and_records_its_cost(
    settings: Any, team: Any
) -> None:
    settings.AURA_RUN_MAX_LOOP_LAG_MS = 5000
    script = script_writer(
        request_build(brief_build(topic="Tides explained", platform="youtube", duration_seconds=60))
    ).strip()
    pieces = [word + " " for word in script.split(" ")]
    with FakeProviderServer() as fake:
        fake.push(openai_stream(pieces, usage=(12, len(pieces))))
        _providers(
            settings,
            openai={"api_key": "sk-test", "base_url": fake.url("/v1"), "model": "gpt-4o-mini"},
        )
        client = await api_for(team.editor)
        response = await client.post(
            "/api/v1/scripts",
            {"project": team.project.pk, "topic": "Tides explained", "provider": "openai"},
        )
        assert response.status_code == 200, response.content
        run = response.json()
        events = await asyncio.to_thread(events_of, run["id"])

    assert run["status"] == "succeeded", run
    assert [event for event, _data in events][-1] == "done"
    assert run["text"].strip() == script
    records = await asyncio.to_thread(lambda: list(CostRecord.objects.filter(run_id=run["id"])))
    assert [(r.provider, r.output_tokens, r.outcome) for r in records] == [
        ("openai", len(pieces), "succeeded")
    ]


PRIVATE = ("--appendonly", "no", "--daemonize", "no")


@pytest.fixture
def private_redis(settings: Any) -> Iterator[Any]:
    """A redis-server of the test's own, without persistence, as the shared cache."""
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but redis-server is not installed")
        pytest.skip("redis-server is not installed")
    binary: str = found
    port = free_port()

    class Server:
        process: subprocess.Popen[bytes] | None = None

        def start(self) -> None:
            self.process = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *PRIVATE],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 20
            while True:
                try:
                    import redis

                    redis.Redis(port=port, socket_connect_timeout=0.5).ping()
                    return
                except Exception:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)

        def stop(self) -> None:
            process_stop(self.process)
            self.process = None

    server = Server()
    server.start()
    _shared_cache(settings, port)
    try:
        yield server
    finally:
        server.stop()


def test_after_a_redis_restart_the_next_command_works_without_an_error(
    private_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import aura_site.cache as shared

    cache.set("kept", "before")
    cache.set("other", "before")
    assert cache.get("kept") == "before"
    private_redis.stop()
    private_redis.start()
    shared._warned_at = 0.0
    with caplog.at_level(logging.WARNING, logger="aura_site.cache"):
        assert cache.get("kept", "lost") == "lost"
        cache.set("kept", "after")
        assert cache.get("kept") == "after"
    assert not [r for r in caplog.records if r.name == "aura_site.cache"]
