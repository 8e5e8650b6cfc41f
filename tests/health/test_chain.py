"""Provider health from the LLM chain's real calls to loopback fakes: a failing provider goes
from degraded to circuit open with its reopen time; latency and time to first token; what is
not counted; secrets kept out of the last error."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from generation.chain.fallback import RetryPolicy, stream_with_fallback
from generation.health.models import ProviderMinute
from generation.health.selectors import aproviders_health
from generation.providers.base import ProviderError
from tests.fakes.providers import (
    SSE_HEADERS,
    FakeProviderServer,
    Pause,
    Reply,
    openai_error,
    openai_events,
    openai_stream,
)
from tests.generation.providers.conftest import PROMPT
from tests.health.conftest import configure_llms

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-test-health-0123456789abcdef"


def set_up_openai(settings: Any, fake: FakeProviderServer) -> None:
    configure_llms(
        settings, openai={"api_key": KEY, "base_url": fake.url("/v1"), "model": "gpt-4o-mini"}
    )


async def generate(chain: list[str] | None = None, retries: int = 0) -> None:
    stream = stream_with_fallback(
        chain or ["openai", "rulebased"],
        PROMPT,
        retry=RetryPolicy(max_retries=retries, base_delay=0.001, jitter=0),
    )
    try:
        async with stream:
            async for _event in stream:
                pass
    except ProviderError:
        pass


async def health_of(alias: str) -> Any:
    found = {item.alias: item for item in await aproviders_health("llm")}
    return found[alias]


async def test_a_failing_provider_is_degraded_then_its_circuit_opens_with_its_reopen_time(
    settings: Any, fake: FakeProviderServer
) -> None:
    settings.AURA_CIRCUIT_FAILURES = 3
    settings.AURA_CIRCUIT_COOLDOWN_SECONDS = 120
    set_up_openai(settings, fake)
    fake.push(openai_stream(["Fine"]), openai_error(500, "The server had an error", type="server"))

    await generate()
    openai = await health_of("openai")
    assert openai.state == "healthy"
    assert (openai.hour.calls, openai.hour.failures) == (1, 0)
    assert openai.last_ok_at is not None and openai.last_error is None

    await generate()
    openai = await health_of("openai")
    assert openai.state == "degraded"
    assert (openai.hour.calls, openai.hour.failures) == (2, 1)
    assert openai.hour.error_rate == 0.5
    assert openai.last_error is not None
    assert openai.last_error.kind == "unavailable"
    assert "server had an error" in openai.last_error.message
    assert openai.reopens_at is None

    await generate()
    await generate()
    before = time.time()
    openai = await health_of("openai")
    assert openai.state == "circuit_open"
    assert openai.state_label == "circuit open"
    assert openai.facts.circuit_failures == 3
    assert openai.reopens_at is not None
    reopens_in = openai.reopens_at.timestamp() - before
    assert 110 < reopens_in <= 120

    # an open circuit skips the provider: no call made, none counted
    await generate()
    assert len(fake.requests) == 4
    openai = await health_of("openai")
    assert (openai.day.calls, openai.day.failures) == (4, 3)
    rulebased = await health_of("rulebased")
    assert rulebased.state == "healthy" and rulebased.day.calls == 4


async def test_each_retry_is_a_call_and_a_request_refused_is_not_a_failure(
    settings: Any, fake: FakeProviderServer
) -> None:
    set_up_openai(settings, fake)
    fake.push(
        openai_error(429, "Rate limit reached", type="requests"),
        openai_stream(["Hello"]),
        openai_error(400, "Invalid 'messages'", type="invalid_request_error"),
    )
    await generate(retries=2)
    await generate(retries=2)
    openai = await health_of("openai")
    assert len(fake.requests) == 3
    assert (openai.hour.calls, openai.hour.failures, openai.hour.rejected) == (3, 1, 1)
    assert openai.last_error is not None and openai.last_error.kind == "rate_limit"
    assert openai.state == "degraded"


async def test_latency_and_time_to_first_token_of_real_streams(
    settings: Any, fake: FakeProviderServer
) -> None:
    set_up_openai(settings, fake)
    events = openai_events(["Slow", " start"])
    fake.push(
        Reply(200, dict(SSE_HEADERS), [events[0], Pause(0.3), events[1], Pause(0.3), *events[2:]])
    )
    await generate()
    openai = await health_of("openai")
    assert openai.hour.calls == 1
    assert openai.hour.ttft_p50_ms is not None and openai.hour.p50_ms is not None
    # one call in the (250, 500] ms bin to its first text, the (500, 1000] bin in all
    assert 250 <= openai.hour.ttft_p50_ms <= 500
    assert 500 <= openai.hour.p50_ms <= 1000
    assert openai.hour.p95_ms is not None and openai.hour.p95_ms >= openai.hour.p50_ms
    assert openai.has_ttft


async def test_non_streaming_calls_have_latency_but_no_time_to_first_token(
    settings: Any, fake: FakeProviderServer
) -> None:
    set_up_openai(settings, fake)
    fake.push(openai_stream(["Whole"]))
    stream = stream_with_fallback(["openai"], PROMPT, streaming=False)
    async with stream:
        async for _event in stream:
            pass
    row = await ProviderMinute.objects.aget(provider="openai")
    assert row.calls == 1 and row.failures == 0
    assert sum(getattr(row, f"total_le_{b}") for b in (100, 250, 500, 1000)) == 1
    assert row.ttft_le_100 + row.ttft_le_250 + row.ttft_le_500 + row.ttft_le_1000 == 0


async def test_the_last_error_never_holds_the_key(settings: Any, fake: FakeProviderServer) -> None:
    set_up_openai(settings, fake)
    fake.push(
        openai_error(
            401,
            f"Incorrect API key provided: {KEY}. Sent as Authorization: Bearer {KEY} "
            f"and as ?key={KEY}",
            type="invalid_request_error",
            code="invalid_api_key",
        )
    )
    await generate()
    openai = await health_of("openai")
    assert openai.last_error is not None and openai.last_error.kind == "auth"
    assert KEY not in openai.last_error.message
    assert KEY[-4:] in openai.last_error.message  # masked, still recognisable
    # a wrong key is "unreachable": the provider cannot be used until staff fix it
    assert openai.state == "unreachable"


async def test_a_connection_refused_is_unreachable_until_a_call_gets_through(
    settings: Any, fake: FakeProviderServer
) -> None:
    from tests.health.conftest import closed_port_url

    configure_llms(settings, openai={"api_key": KEY, "base_url": closed_port_url() + "/v1"})
    await generate()
    openai = await health_of("openai")
    assert openai.state == "unreachable"
    assert openai.last_error is not None and openai.last_error.kind == "network"

    set_up_openai(settings, fake)
    fake.push(openai_stream(["Back"]))
    await generate()
    openai = await health_of("openai")
    assert openai.state == "degraded"
    assert openai.reason == "1 of 2 calls failed in the last 15 minutes."


async def test_old_calls_count_in_the_day_only_and_old_buckets_are_pruned(settings: Any) -> None:
    from generation.health.recording import acall_record

    now = timezone.now()
    for minutes_ago in (3 * 24 * 60, 5 * 60, 2):
        await acall_record(
            family="llm",
            provider="rulebased",
            call="generate",
            ok=True,
            latency_ms=40,
            at=now - timedelta(minutes=minutes_ago),
        )
    rulebased = await health_of("rulebased")
    assert (rulebased.hour.calls, rulebased.day.calls) == (1, 2)
    # the row three days old went when the newest minute's row was created
    assert await ProviderMinute.objects.filter(provider="rulebased").acount() == 2
