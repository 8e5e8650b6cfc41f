"""OpenAI chat completions against a loopback server speaking its streaming format."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from generation.providers.base import ErrorKind, TextDelta
from generation.providers.openai import OpenAIProvider
from tests.fakes.providers import (
    ABORT,
    SSE_HEADERS,
    FakeProviderServer,
    Pause,
    Reply,
    json_reply,
    openai_chunk,
    openai_error,
    openai_events,
    openai_stream,
    sse,
)

from .conftest import PROMPT, collect


def make(fake: FakeProviderServer, client: httpx.AsyncClient, **options: object) -> OpenAIProvider:
    return OpenAIProvider(
        "openai",
        {"api_key": "sk-test-1234", "base_url": fake.url("/v1"), "model": "gpt-4o-mini", **options},
        client=client,
    )


async def test_streams_text_then_one_finish_with_reported_usage(fake, client):
    fake.push(openai_stream(["Hel", "lo", " wörld €"], usage=(9, 3)))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.texts == ["Hel", "lo", " wörld €"]
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "stop"
    assert outcome.finish.usage.input_tokens == 9
    assert outcome.finish.usage.output_tokens == 3
    assert outcome.finish.usage.reported is True
    assert outcome.finish.model == "gpt-4o-mini"
    request = fake.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-1234"
    body = request.json()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1]["role"] == "user"


async def test_without_usage_chunk_counts_are_estimated(fake, client):
    fake.push(openai_stream(["Hello there"], usage=None))
    outcome = await collect(make(fake, client))
    assert outcome.finish is not None
    assert outcome.finish.usage.reported is False
    assert outcome.finish.usage.output_tokens == 3


async def test_length_finish_reason_is_kept(fake, client):
    fake.push(openai_stream(["cut"], finish="length"))
    outcome = await collect(make(fake, client))
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "length"


@pytest.mark.parametrize(
    ("reply", "kind", "retryable"),
    [
        (
            openai_error(401, "Incorrect API key provided", code="invalid_api_key"),
            ErrorKind.AUTH,
            False,
        ),
        (openai_error(403, "Country not supported"), ErrorKind.AUTH, False),
        (
            openai_error(
                429,
                "You exceeded your current quota",
                type="insufficient_quota",
                code="insufficient_quota",
            ),
            ErrorKind.QUOTA,
            False,
        ),
        (
            openai_error(429, "Rate limit reached", code="rate_limit_exceeded"),
            ErrorKind.RATE_LIMIT,
            True,
        ),
        (
            openai_error(400, "max_tokens is too large", code="context_length_exceeded"),
            ErrorKind.BAD_REQUEST,
            False,
        ),
        (
            openai_error(404, "The model does not exist", code="model_not_found"),
            ErrorKind.BAD_REQUEST,
            False,
        ),
        (
            openai_error(500, "The server had an error", type="server_error"),
            ErrorKind.UNAVAILABLE,
            True,
        ),
        (openai_error(503, "Slow down", type="server_error"), ErrorKind.OVERLOADED, True),
        (openai_error(504, "Gateway timeout"), ErrorKind.TIMEOUT, True),
    ],
)
async def test_http_errors_before_the_stream(fake, client, reply, kind, retryable):
    fake.push(reply)
    outcome = await collect(make(fake, client))
    assert outcome.texts == []
    assert outcome.error is not None
    assert outcome.error.kind == kind
    assert outcome.error.retryable is retryable
    assert outcome.error.provider == "openai"
    assert "sk-test-1234" not in str(outcome.error)


async def test_retry_after_ms_is_read(fake, client):
    fake.push(
        openai_error(
            429, "Rate limit reached", headers={"retry-after-ms": "1500", "retry-after": "9"}
        )
    )
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.retry_after == 1.5


async def test_error_event_mid_stream_keeps_the_text_count(fake, client):
    events = openai_events(["Hel", "lo"], done=False)[:3]
    events.append(sse({"error": {"message": "The server had an error", "type": "server_error"}}))
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    outcome = await collect(make(fake, client))
    assert outcome.texts == ["Hel", "lo"]
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.UNAVAILABLE
    assert outcome.error.usage is not None
    assert outcome.error.usage.output_tokens >= 1
    assert outcome.error.usage.reported is False


async def test_rate_limit_error_event_mid_stream(fake, client):
    events = openai_events(["a"], done=False)[:2]
    events.append(
        sse(
            {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}},
            "error",
        )
    )
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.RATE_LIMIT


async def test_body_ending_without_done_is_truncated(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), openai_events(["Hel", "lo"], done=False)))
    outcome = await collect(make(fake, client))
    assert outcome.texts == ["Hel", "lo"]
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TRUNCATED
    assert outcome.finish is None


async def test_done_without_trailing_blank_line_is_truncated(fake, client):
    events = [*openai_events(["Hel"], done=False), b"data: [DONE]\n"]
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TRUNCATED


async def test_connection_broken_mid_body_is_truncated(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [*openai_events(["Hel"], done=False)[:2], ABORT]))
    outcome = await collect(make(fake, client))
    assert outcome.texts == ["Hel"]
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TRUNCATED
    assert outcome.error.retryable is True


async def test_json_instead_of_a_stream_is_refused(fake, client):
    fake.push(json_reply(200, {"id": "chatcmpl", "object": "chat.completion", "choices": []}))
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.UNAVAILABLE
    assert "text/event-stream" in outcome.error.message


async def test_malformed_event_is_a_clear_error(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [b"data: {not json\n\n"]))
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.UNAVAILABLE
    assert "unreadable" in outcome.error.message


async def test_aclose_closes_the_upstream_connection(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [sse(openai_chunk("first"))], end="hang"))
    provider = make(fake, client)
    stream = provider.stream(PROMPT)
    event = await stream.__anext__()
    assert event == TextDelta("first")
    await stream.aclose()  # type: ignore[attr-defined]
    assert await fake.await_disconnects(1)


async def test_cancelling_the_task_closes_the_upstream_connection(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [sse(openai_chunk("first"))], end="hang"))
    provider = make(fake, client)
    seen = asyncio.Event()

    async def consume() -> None:
        async for _event in provider.stream(PROMPT):
            seen.set()

    task = asyncio.create_task(consume())
    await seen.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await fake.await_disconnects(1)


async def test_meter_keeps_counts_after_a_cancel(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [sse(openai_chunk("12345678"))], end="hang"))
    from generation.providers.base import StreamMeter

    meter = StreamMeter()
    stream = make(fake, client).stream(PROMPT, meter=meter)
    await stream.__anext__()
    await stream.aclose()  # type: ignore[attr-defined]
    assert meter.text_chars == 8
    assert meter.finished is False


async def test_first_token_timeout(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [sse(openai_chunk("", role="assistant"))], end="hang"))
    outcome = await collect(make(fake, client, first_token_timeout=0.2))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TIMEOUT
    assert "first_token_timeout" in outcome.error.message
    assert await fake.await_disconnects(1)


async def test_no_response_headers_is_a_first_token_timeout(fake, client):
    fake.push(Reply(200, dict(SSE_HEADERS), [], end="hang"))
    outcome = await collect(make(fake, client, first_token_timeout=0.2))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TIMEOUT


async def test_stall_timeout_after_text(fake, client):
    fake.push(
        Reply(200, dict(SSE_HEADERS), [sse(openai_chunk("a")), sse(openai_chunk("b"))], end="hang")
    )
    outcome = await collect(make(fake, client, stall_timeout=0.2))
    assert outcome.texts == ["a", "b"]
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TIMEOUT
    assert "stall_timeout" in outcome.error.message


async def test_pauses_shorter_than_the_stall_timeout_are_fine(fake, client):
    events = openai_events(["a", "b"])
    fake.push(Reply(200, dict(SSE_HEADERS), [events[0], events[1], Pause(0.05), *events[2:]]))
    outcome = await collect(make(fake, client, stall_timeout=5))
    assert outcome.error is None
    assert outcome.text == "ab"


async def test_connect_refused_is_a_retryable_network_error(client):
    with FakeProviderServer() as gone:
        url = gone.url("/v1")
    provider = OpenAIProvider("openai", {"api_key": "k", "base_url": url}, client=client)
    outcome = await collect(provider)
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.NETWORK
    assert outcome.error.retryable is True


async def test_not_configured_says_what_to_set(client):
    outcome = await collect(OpenAIProvider("openai", {"api_key": ""}, client=client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.AUTH
    assert "OPENAI_API_KEY" in outcome.error.message


async def test_complete_is_derived_from_the_stream(fake, client):
    fake.push(openai_stream(["Hel", "lo"], usage=(9, 2)))
    completion = await make(fake, client).complete(PROMPT)
    assert completion.text == "Hello"
    assert completion.usage.output_tokens == 2


async def test_test_key_lists_models(fake, client):
    fake.push(json_reply(200, {"object": "list", "data": [{"id": "gpt-4o-mini"}]}))
    note = await make(fake, client).test_key()
    assert "accepted" in note
    assert fake.requests[0].path == "/v1/models"
    assert fake.requests[0].method == "GET"


async def test_test_key_rejected(fake, client):
    fake.push(openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
    from generation.providers.base import ProviderError

    with pytest.raises(ProviderError) as caught:
        await make(fake, client).test_key()
    assert caught.value.kind == ErrorKind.AUTH


async def test_escaped_and_unicode_content_and_several_events_per_read(fake, client):
    events = openai_events(['say "hi"\n', "caf\u00e9 \U0001f600", "\\u2028 \u2028", "x", "y"])
    escaped = sse(openai_chunk(None)).replace(b'"delta":{}', b'"delta":{"content":"\\u00e9\\n"}')
    steps = [
        events[0],
        events[1],
        events[2],
        events[3],
        events[4] + events[5],
        escaped,
        *events[6:],
    ]
    fake.push(Reply(200, dict(SSE_HEADERS), steps))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.text == 'say "hi"\ncaf\u00e9 \U0001f600\\u2028 \u2028xy\u00e9\n'


async def test_compact_chunks_in_another_field_order_parse_the_same(fake, client):
    import json

    def compact(payload: dict) -> bytes:
        return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

    first = openai_chunk("", role="assistant")
    plain = openai_chunk('a"b')
    reordered = {
        "choices": [{"delta": {"content": "c"}, "index": 0, "finish_reason": None}],
        "model": "m",
    }
    with_usage = openai_chunk("d")
    with_usage["usage"] = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    steps = [compact(first), compact(plain), compact(reordered), compact(with_usage)]
    steps += [compact(openai_chunk(finish="stop")), b"data: [DONE]\n\n"]
    fake.push(Reply(200, dict(SSE_HEADERS), steps))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.text == 'a"bcd'
    assert outcome.finish is not None
    assert outcome.finish.usage.output_tokens == 4
    assert outcome.finish.usage.reported is True


async def test_a_key_quoted_in_an_error_body_is_masked(fake, client):
    fake.push(
        openai_error(401, "Incorrect API key provided: sk-test-1234.", code="invalid_api_key")
    )
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.AUTH
    assert "sk-test-1234" not in str(outcome.error)
    assert "Incorrect API key provided: sk-…1234." in outcome.error.message
