"""Anthropic Messages against a loopback server speaking its event stream."""

from __future__ import annotations

import pytest

from generation.providers.anthropic import AnthropicProvider
from generation.providers.base import CompletionRequest, ErrorKind
from tests.fakes.providers import (
    SSE_HEADERS,
    Reply,
    anthropic_error,
    anthropic_error_event,
    anthropic_events,
    anthropic_stream,
    sse,
)

from .conftest import collect


def make(fake, client, **options):
    return AnthropicProvider(
        "anthropic",
        {
            "api_key": "sk-ant-secret-9999",
            "base_url": fake.base_url,
            "model": "claude-sonnet-4-5",
            **options,
        },
        client=client,
    )


async def test_stream_with_ping_and_cumulative_output_tokens(fake, client):
    fake.push(anthropic_stream(["Hel", "lo"], input_tokens=12, output_steps=(3, 6)))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.texts == ["Hel", "lo"]
    assert outcome.finish is not None
    assert outcome.finish.usage.input_tokens == 12
    assert outcome.finish.usage.output_tokens == 6  # the last cumulative count, not 1 + 3 + 6
    assert outcome.finish.usage.reported is True
    assert outcome.finish.finish_reason == "stop"
    assert outcome.finish.model == "claude-sonnet-4-5"
    request = fake.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-secret-9999"
    assert request.headers["anthropic-version"] == "2023-06-01"
    body = request.json()
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 1024
    assert body["stream"] is True


async def test_unknown_events_are_ignored(fake, client):
    events = anthropic_events(["a"])
    events.insert(3, sse({"type": "brand_new_event", "x": 1}, "brand_new_event"))
    thinking = {"type": "thinking_delta", "thinking": "hm"}
    events.insert(
        3,
        sse({"type": "content_block_delta", "index": 0, "delta": thinking}, "content_block_delta"),
    )
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.text == "a"


async def test_max_tokens_stop_reason_is_length(fake, client):
    fake.push(anthropic_stream(["a"], stop_reason="max_tokens"))
    outcome = await collect(make(fake, client))
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "length"


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", ErrorKind.OVERLOADED),
        ("api_error", ErrorKind.UNAVAILABLE),
        ("rate_limit_error", ErrorKind.RATE_LIMIT),
        ("invalid_request_error", ErrorKind.BAD_REQUEST),
    ],
)
async def test_error_event_mid_stream_is_mapped_by_type(fake, client, error_type, kind):
    events = anthropic_events(["Hel"], stop=False)[:4]
    events.append(anthropic_error_event(error_type, "Overloaded"))
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    outcome = await collect(make(fake, client))
    assert outcome.texts == ["Hel"]
    assert outcome.error is not None
    assert outcome.error.kind == kind
    assert outcome.error.status_code == 200
    assert outcome.error.usage is not None
    assert outcome.error.usage.input_tokens == 12


async def test_missing_message_stop_is_truncated(fake, client):
    fake.push(anthropic_stream(["Hel"], stop=False))
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TRUNCATED


@pytest.mark.parametrize(
    ("reply", "kind", "retryable", "retry_after"),
    [
        (
            anthropic_error(401, "authentication_error", "invalid x-api-key"),
            ErrorKind.AUTH,
            False,
            None,
        ),
        (anthropic_error(403, "permission_error", "no access"), ErrorKind.AUTH, False, None),
        (anthropic_error(402, "billing_error", "add credits"), ErrorKind.QUOTA, False, None),
        (anthropic_error(400, "invalid_request_error", "bad"), ErrorKind.BAD_REQUEST, False, None),
        (
            anthropic_error(400, "invalid_request_error", "Your credit balance is too low"),
            ErrorKind.QUOTA,
            False,
            None,
        ),
        (
            anthropic_error(429, "rate_limit_error", "slow down", headers={"retry-after": "7"}),
            ErrorKind.RATE_LIMIT,
            True,
            7.0,
        ),
        (
            anthropic_error(
                429,
                "rate_limit_error",
                "spend limit",
                details={"error_code": "enforced_spend_limit_reached"},
            ),
            ErrorKind.QUOTA,
            False,
            None,
        ),
        (anthropic_error(500, "api_error", "internal"), ErrorKind.UNAVAILABLE, True, None),
        (
            anthropic_error(529, "overloaded_error", "Overloaded", headers={"retry-after": "2"}),
            ErrorKind.OVERLOADED,
            True,
            2.0,
        ),
        (
            anthropic_error(
                529, "overloaded_error", "Overloaded", headers={"x-should-retry": "false"}
            ),
            ErrorKind.OVERLOADED,
            False,
            None,
        ),
    ],
)
async def test_http_errors(fake, client, reply, kind, retryable, retry_after):
    fake.push(reply)
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == kind
    assert outcome.error.retryable is retryable
    assert outcome.error.retry_after == retry_after
    assert "sk-ant-secret-9999" not in str(outcome.error)


async def test_cancel_closes_the_connection_and_keeps_reported_input(fake, client):
    from generation.providers.base import StreamMeter

    fake.push(Reply(200, dict(SSE_HEADERS), anthropic_events(["Hel"], stop=False)[:4], end="hang"))
    meter = StreamMeter()
    stream = make(fake, client).stream(CompletionRequest.from_prompt("hi"), meter=meter)
    await stream.__anext__()
    await stream.aclose()
    assert await fake.await_disconnects(1)
    assert meter.input_tokens == 12
    assert meter.text_chars == 3
