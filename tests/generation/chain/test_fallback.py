"""Retries, fallback along a chain, the circuit breaker and cost records, through real
adapters talking to loopback fakes."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest
from django.core.cache import cache

from generation.chain.circuit import CircuitBreaker
from generation.chain.fallback import (
    AttemptStarted,
    Ledger,
    ProviderSwitch,
    RetryPolicy,
    stream_with_fallback,
)
from generation.costs.models import CostRecord
from generation.providers.base import ErrorKind, Finish, ProviderError, TextDelta
from generation.providers.openai import OpenAIProvider
from generation.providers.rulebased import RuleBasedProvider
from tests.fakes.providers import (
    SSE_HEADERS,
    FakeProviderServer,
    Reply,
    anthropic_error,
    openai_chunk,
    openai_error,
    openai_events,
    openai_stream,
    sse,
)
from tests.generation.providers.conftest import PROMPT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def openai(fake, client, alias="openai"):
    return OpenAIProvider(
        alias,
        {"api_key": "sk-x", "base_url": fake.url("/v1"), "model": "gpt-4o-mini"},
        client=client,
    )


def rulebased():
    return RuleBasedProvider("rulebased", {"pace_ms": 0})


async def run(stream):
    events = []
    error = None
    try:
        async with stream:
            async for event in stream:
                events.append(event)
    except ProviderError as exc:
        error = exc
    return events, error


async def test_retry_then_success_honours_retry_after(fake, client):
    fake.push(
        openai_error(429, "Rate limit reached", headers={"retry-after": "1.5"}),
        openai_error(503, "Slow down", type="server_error"),
        openai_stream(["Hel", "lo"], usage=(9, 2)),
    )
    sleeps = Sleeps()
    stream = stream_with_fallback(
        ["openai", "rulebased"],
        PROMPT,
        providers={"openai": openai(fake, client), "rulebased": rulebased()},
        retry=RetryPolicy(max_retries=3, base_delay=0.01, jitter=0),
        sleep=sleeps,
    )
    events, error = await run(stream)
    assert error is None
    assert events[0] == AttemptStarted("openai", "gpt-4o-mini", 1)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"
    assert isinstance(events[-1], Finish)
    assert sleeps.delays[0] == 1.5
    assert sleeps.delays[1] == pytest.approx(0.02)
    assert len(fake.requests) == 3
    [attempt] = stream.attempts
    assert attempt.outcome == "succeeded"
    assert attempt.retries == 2
    assert stream.result is not None
    assert stream.result.cost == Decimal("0.00000255")  # 9 * 0.00015/1K + 2 * 0.0006/1K


async def test_retry_after_beyond_the_cap_moves_on_at_once(fake, client):
    fake.push(openai_error(429, "Rate limit reached", headers={"retry-after": "120"}))
    sleeps = Sleeps()
    stream = stream_with_fallback(
        ["openai", "rulebased"],
        PROMPT,
        providers={"openai": openai(fake, client), "rulebased": rulebased()},
        retry=RetryPolicy(retry_after_cap=20),
        sleep=sleeps,
    )
    _events, error = await run(stream)
    assert error is None
    assert sleeps.delays == []
    assert stream.result is not None
    assert stream.result.provider == "rulebased"


@pytest.mark.parametrize(
    "reply",
    [
        openai_error(401, "Incorrect API key provided", code="invalid_api_key"),
        openai_error(
            429,
            "You exceeded your current quota",
            type="insufficient_quota",
            code="insufficient_quota",
        ),
        openai_error(400, "bad request"),
    ],
)
async def test_auth_quota_and_bad_request_are_never_retried(fake, client, reply):
    fake.push(reply)
    sleeps = Sleeps()
    stream = stream_with_fallback(
        ["openai", "rulebased"],
        PROMPT,
        providers={"openai": openai(fake, client), "rulebased": rulebased()},
        sleep=sleeps,
    )
    events, error = await run(stream)
    assert error is None
    assert len(fake.requests) == 1
    assert sleeps.delays == []
    switch = next(e for e in events if isinstance(e, ProviderSwitch))
    assert switch.from_provider == "openai"
    assert switch.to_provider == "rulebased"
    assert stream.attempts[0].outcome == "failed"
    assert stream.result is not None
    assert stream.result.provider == "rulebased"


async def test_fallback_along_the_chain_records_every_attempt_and_costs(
    client, make_user, make_project
):
    user = await asyncio.to_thread(make_user)
    project = await asyncio.to_thread(make_project, user)
    with FakeProviderServer() as first, FakeProviderServer() as second:
        first.push(openai_error(500, "The server had an error", type="server_error"))
        second.push(openai_stream(["Hi"], usage=(5, 1)))
        stream = stream_with_fallback(
            ["openai", "azure", "rulebased"],
            PROMPT,
            providers={"openai": openai(first, client), "azure": openai(second, client, "azure")},
            retry=RetryPolicy(max_retries=1, base_delay=0.001),
            ledger=Ledger(user_id=user.pk, project_id=project.pk, run_id="run-42"),
        )
        events, error = await run(stream)
    assert error is None
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "AttemptStarted",
        "Retrying",
        "ProviderSwitch",
        "AttemptStarted",
        "TextDelta",
        "Finish",
    ]
    switch = events[2]
    assert isinstance(switch, ProviderSwitch)
    assert switch.reason.startswith("unavailable")
    assert [a.outcome for a in stream.attempts] == ["failed", "succeeded"]
    assert stream.attempts[0].retries == 1
    assert stream.attempts[0].error_kind == "unavailable"
    records = await asyncio.to_thread(
        lambda: list(CostRecord.objects.filter(run_id="run-42").order_by("attempt"))
    )
    assert [(r.provider, r.outcome, r.attempt) for r in records] == [
        ("openai", "failed", 1),
        ("azure", "succeeded", 2),
    ]
    assert records[1].input_tokens == 5
    assert records[1].reported is True
    assert records[1].cost == Decimal("0.00000135")
    assert records[0].cost == Decimal(0)
    assert records[1].user_id == user.pk
    assert records[1].project_id == project.pk


async def test_failure_after_text_is_raised_not_spliced(fake, client):
    events = openai_events(["Hel"], done=False)[:2]
    events.append(sse({"error": {"message": "boom", "type": "server_error"}}))
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    stream = stream_with_fallback(
        ["openai", "rulebased"],
        PROMPT,
        providers={"openai": openai(fake, client), "rulebased": rulebased()},
        ledger=Ledger(run_id="run-splice"),
    )
    seen, error = await run(stream)
    assert error is not None
    assert error.kind == ErrorKind.UNAVAILABLE
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["Hel"]
    assert len(stream.attempts) == 1
    assert stream.attempts[0].outcome == "failed"
    [record] = await asyncio.to_thread(lambda: list(CostRecord.objects.filter(run_id="run-splice")))
    assert record.reported is False
    assert record.output_tokens == 1


async def test_all_failing_lists_each_attempt(client):
    with FakeProviderServer() as first, FakeProviderServer() as second:
        first.push(openai_error(401, "bad key", code="invalid_api_key"))
        second.push(anthropic_error(400, "invalid_request_error", "nope"))
        stream = stream_with_fallback(
            ["openai", "azure"],
            PROMPT,
            providers={"openai": openai(first, client), "azure": openai(second, client, "azure")},
        )
        _events, error = await run(stream)
    assert error is not None
    assert error.kind == ErrorKind.UNAVAILABLE
    assert "openai: auth" in error.message
    assert "azure: bad_request" in error.message


async def test_cancel_closes_upstream_and_records_estimated_usage(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [sse(openai_chunk("12345678"))], end="hang"))
    stream = stream_with_fallback(
        ["openai", "rulebased"],
        PROMPT,
        providers={"openai": openai(fake, client), "rulebased": rulebased()},
        ledger=Ledger(run_id="run-cancel"),
    )
    got_text = asyncio.Event()

    async def consume() -> None:
        async with stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    got_text.set()

    task = asyncio.create_task(consume())
    await got_text.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await fake.await_disconnects(1)
    [attempt] = stream.attempts
    assert attempt.outcome == "cancelled"
    assert attempt.usage is not None
    assert attempt.usage.output_tokens == 2
    assert attempt.usage.reported is False
    [record] = await asyncio.to_thread(lambda: list(CostRecord.objects.filter(run_id="run-cancel")))
    assert record.outcome == "cancelled"
    assert record.output_tokens == 2
    assert record.cost > 0


async def test_aclose_closes_upstream(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [sse(openai_chunk("x"))], end="hang"))
    stream = stream_with_fallback(["openai"], PROMPT, providers={"openai": openai(fake, client)})
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    assert await fake.await_disconnects(1)
    assert stream.attempts[0].outcome == "cancelled"


async def test_circuit_opens_skips_then_half_opens_and_closes(fake, client):
    breaker = CircuitBreaker(failure_threshold=2, cooldown=60)
    fake.push(openai_error(500, "down", type="server_error"))
    providers = {"openai": openai(fake, client), "rulebased": rulebased()}
    retry = RetryPolicy(max_retries=0)
    for _ in range(2):
        await run(
            stream_with_fallback(
                ["openai", "rulebased"], PROMPT, providers=providers, retry=retry, breaker=breaker
            )
        )
    assert await breaker.state("openai") == "open"
    assert len(fake.requests) == 2

    stream = stream_with_fallback(
        ["openai", "rulebased"], PROMPT, providers=providers, retry=retry, breaker=breaker
    )
    events, error = await run(stream)
    assert error is None
    assert len(fake.requests) == 2  # skipped: no call made
    assert stream.attempts[0].outcome == "skipped"
    switch = next(e for e in events if isinstance(e, ProviderSwitch))
    assert "circuit open" in switch.reason

    half_open = CircuitBreaker(failure_threshold=2, cooldown=0)
    assert await half_open.state("openai") == "half_open"
    fake.push(openai_stream(["back"]))
    stream = stream_with_fallback(
        ["openai", "rulebased"], PROMPT, providers=providers, retry=retry, breaker=half_open
    )
    events, error = await run(stream)
    assert stream.result is not None
    assert stream.result.provider == "openai"
    assert await breaker.state("openai") == "closed"


async def test_half_open_failure_reopens(fake, client):
    breaker = CircuitBreaker(failure_threshold=1, cooldown=0)
    await breaker.record_failure("openai", ErrorKind.NETWORK)
    assert await breaker.state("openai") == "half_open"
    assert await breaker.allow("openai") is True
    assert await breaker.allow("openai") is False  # one probe at a time
    assert await breaker.record_failure("openai", ErrorKind.NETWORK) == "open"


async def test_bad_requests_do_not_count_against_the_circuit():
    breaker = CircuitBreaker(failure_threshold=1, cooldown=60)
    await breaker.record_failure("openai", ErrorKind.BAD_REQUEST)
    assert await breaker.state("openai") == "closed"


async def test_cloud_health_reports_circuit_state(client):
    from generation.chain.policy import provider_healthy

    provider = OpenAIProvider("openai", {"api_key": "sk-x"}, client=client)
    assert await provider_healthy(provider) is True
    breaker = CircuitBreaker.from_settings()
    for _ in range(breaker.failure_threshold):
        await breaker.record_failure("openai", ErrorKind.OVERLOADED)
    assert await provider.health() is True
    assert await provider_healthy(provider) is False


async def test_explicit_model_applies_to_the_chosen_provider_only(fake, client):
    from dataclasses import replace

    fake.push(openai_error(401, "bad", code="invalid_api_key"))
    stream = stream_with_fallback(
        ["openai", "rulebased"],
        replace(PROMPT, model="gpt-4o"),
        providers={"openai": openai(fake, client), "rulebased": rulebased()},
    )
    events, _error = await run(stream)
    started = [e for e in events if isinstance(e, AttemptStarted)]
    assert started[0].model == "gpt-4o"
    assert started[1].model == rulebased().default_model
