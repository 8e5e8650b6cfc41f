"""Gemini streamGenerateContent (alt=sse) against a loopback server speaking it."""

from __future__ import annotations

import pytest

from generation.providers.base import ErrorKind
from generation.providers.gemini import GeminiProvider
from tests.fakes.providers import SSE_HEADERS, Reply, gemini_chunk, gemini_error, gemini_stream, sse

from .conftest import collect


def make(fake, client, **options):
    return GeminiProvider(
        "gemini",
        {
            "api_key": "AIza-secret-0000",
            "base_url": fake.base_url,
            "model": "gemini-2.5-flash",
            **options,
        },
        client=client,
    )


async def test_crlf_stream_without_terminator_ends_normally_after_finish_reason(fake, client):
    fake.push(gemini_stream(["Hel", "lo"], prompt_tokens=7))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.texts == ["Hel", "lo"]
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "stop"
    assert outcome.finish.usage.input_tokens == 7
    assert outcome.finish.usage.output_tokens == 2
    assert outcome.finish.usage.reported is True
    request = fake.requests[0]
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.query == {"alt": ["sse"]}
    assert request.headers["x-goog-api-key"] == "AIza-secret-0000"
    body = request.json()
    assert body["contents"][0]["role"] == "user"
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


async def test_end_without_finish_reason_is_truncated(fake, client):
    fake.push(gemini_stream(["Hel", "lo"], finish=None))
    outcome = await collect(make(fake, client))
    assert outcome.texts == ["Hel", "lo"]
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TRUNCATED


async def test_usage_metadata_last_one_wins(fake, client):
    events = [
        sse(
            gemini_chunk("a", usage={"promptTokenCount": 7, "candidatesTokenCount": 1}),
            newline="\r\n",
        ),
        sse(
            gemini_chunk(
                "b",
                finish="STOP",
                usage={"promptTokenCount": 7, "candidatesTokenCount": 5, "thoughtsTokenCount": 3},
            ),
            newline="\r\n",
        ),
    ]
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    outcome = await collect(make(fake, client))
    assert outcome.finish is not None
    assert outcome.finish.usage.output_tokens == 8


async def test_blocked_prompt_is_content_filter(fake, client):
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
    }
    fake.push(Reply(200, dict(SSE_HEADERS), [sse(blocked, newline="\r\n")]))
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.CONTENT_FILTER
    assert outcome.error.retryable is False


async def test_safety_finish_after_text(fake, client):
    events = [sse(gemini_chunk("a")), sse(gemini_chunk(None, finish="SAFETY"))]
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    outcome = await collect(make(fake, client))
    assert outcome.text == "a"
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "content_filter"


async def test_thought_parts_are_not_text(fake, client):
    chunk = gemini_chunk(None, finish="STOP")
    chunk["candidates"][0]["content"] = {
        "parts": [{"text": "thinking", "thought": True}, {"text": "answer"}],
        "role": "model",
    }
    fake.push(Reply(200, dict(SSE_HEADERS), [sse(chunk)]))
    outcome = await collect(make(fake, client))
    assert outcome.text == "answer"


async def test_error_mid_stream(fake, client):
    events = [
        sse(gemini_chunk("a")),
        sse(
            {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
        ),
    ]
    fake.push(Reply(200, dict(SSE_HEADERS), events))
    outcome = await collect(make(fake, client))
    assert outcome.text == "a"
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.OVERLOADED


@pytest.mark.parametrize(
    ("reply", "kind", "retry_after"),
    [
        (
            gemini_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded",
                [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}],
            ),
            ErrorKind.RATE_LIMIT,
            17.0,
        ),
        (
            gemini_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            ),
            ErrorKind.AUTH,
            None,
        ),
        (gemini_error(403, "PERMISSION_DENIED", "denied"), ErrorKind.AUTH, None),
        (gemini_error(400, "INVALID_ARGUMENT", "bad field"), ErrorKind.BAD_REQUEST, None),
        (gemini_error(404, "NOT_FOUND", "models/x is not found"), ErrorKind.BAD_REQUEST, None),
        (gemini_error(500, "INTERNAL", "internal"), ErrorKind.UNAVAILABLE, None),
        (
            gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
            ErrorKind.OVERLOADED,
            None,
        ),
        (gemini_error(504, "DEADLINE_EXCEEDED", "deadline"), ErrorKind.TIMEOUT, None),
    ],
)
async def test_http_errors(fake, client, reply, kind, retry_after):
    fake.push(reply)
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == kind
    assert outcome.error.retry_after == retry_after
    assert "AIza-secret-0000" not in str(outcome.error)
