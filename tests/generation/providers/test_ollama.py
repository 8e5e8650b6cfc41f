"""Ollama's native NDJSON chat stream against a loopback server speaking it."""

from __future__ import annotations

import json

import pytest

from generation.providers.base import ErrorKind
from generation.providers.ollama import OllamaProvider
from tests.fakes.providers import (
    NDJSON_HEADERS,
    FakeProviderServer,
    Reply,
    ndjson,
    ollama_error,
    ollama_line,
    ollama_stream,
    ollama_tags,
)

from .conftest import PROMPT, collect


def make(fake, client, **options):
    return OllamaProvider(
        "ollama", {"base_url": fake.base_url, "model": "llama3.2", **options}, client=client
    )


async def test_stream_with_counts_and_text_on_the_final_line(fake, client):
    fake.push(ollama_stream(["Hel", "lo"], final_text="!", counts=(26, 3)))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.texts == ["Hel", "lo", "!"]
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "stop"
    assert outcome.finish.usage.input_tokens == 26
    assert outcome.finish.usage.output_tokens == 3
    assert outcome.finish.usage.reported is True
    request = fake.requests[0]
    assert request.path == "/api/chat"
    body = request.json()
    assert body["stream"] is True
    assert body["model"] == "llama3.2"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["options"]["num_predict"] == 1024


async def test_absent_counts_are_estimated(fake, client):
    fake.push(ollama_stream(["Hello world"], counts=None))
    outcome = await collect(make(fake, client))
    assert outcome.finish is not None
    assert outcome.finish.usage.reported is False
    assert outcome.finish.usage.output_tokens == 3


async def test_unicode_line_separator_inside_text_is_not_a_line_break(fake, client):
    raw = json.dumps(ollama_line("a\u2028b"), ensure_ascii=False).encode() + b"\n"
    fake.push(
        Reply(
            200,
            dict(NDJSON_HEADERS),
            [raw[:5], raw[5:], ndjson(ollama_line("", done=True, done_reason="stop"))],
        )
    )
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.text == "a\u2028b"


async def test_error_line_mid_stream(fake, client):
    fake.push(
        Reply(
            200,
            dict(NDJSON_HEADERS),
            [
                ndjson(ollama_line("Hel")),
                ndjson({"error": "an error was encountered while running the model"}),
            ],
        )
    )
    outcome = await collect(make(fake, client))
    assert outcome.texts == ["Hel"]
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.UNAVAILABLE


async def test_end_without_done_is_truncated(fake, client):
    fake.push(ollama_stream(["Hel"], done=False))
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.TRUNCATED


async def test_final_line_without_newline_still_counts(fake, client):
    final = json.dumps(
        ollama_line("", done=True, done_reason="length", eval_count=1, prompt_eval_count=2)
    ).encode()
    fake.push(Reply(200, dict(NDJSON_HEADERS), [ndjson(ollama_line("a")), final]))
    outcome = await collect(make(fake, client))
    assert outcome.error is None
    assert outcome.finish is not None
    assert outcome.finish.finish_reason == "length"


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (
            ollama_error(404, "model 'llama9' not found, try pulling it first"),
            ErrorKind.BAD_REQUEST,
        ),
        (ollama_error(400, "invalid options"), ErrorKind.BAD_REQUEST),
        (
            ollama_error(503, "server busy, please try again.  maximum pending requests exceeded"),
            ErrorKind.OVERLOADED,
        ),
        (ollama_error(500, "llama runner process has terminated"), ErrorKind.UNAVAILABLE),
    ],
)
async def test_http_errors(fake, client, reply, kind):
    fake.push(reply)
    outcome = await collect(make(fake, client))
    assert outcome.error is not None
    assert outcome.error.kind == kind


async def test_not_running_is_a_network_error_not_retried(client):
    with FakeProviderServer() as gone:
        url = gone.base_url
    outcome = await collect(
        OllamaProvider("ollama", {"base_url": url, "model": "llama3.2"}, client=client)
    )
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.NETWORK
    assert outcome.error.retryable is False


async def test_cancel_stops_generation_upstream(fake, client):
    fake.push(Reply(200, dict(NDJSON_HEADERS), [ndjson(ollama_line("Hel"))], end="hang"))
    stream = make(fake, client).stream(PROMPT)
    await stream.__anext__()
    await stream.aclose()
    assert await fake.await_disconnects(1)


async def test_health_uses_api_tags(fake, client):
    fake.push(ollama_tags("llama3.2:latest", "qwen2.5:7b"))
    provider = make(fake, client)
    assert await provider.health() is True
    assert fake.requests[0].path == "/api/tags"
    assert fake.requests[0].method == "GET"
    assert await provider.tags() == ("llama3.2:latest", "qwen2.5:7b")


async def test_health_false_when_model_missing_or_server_down(fake, client):
    fake.push(ollama_tags("qwen2.5:7b"))
    assert await make(fake, client).health() is False
    with FakeProviderServer() as gone:
        url = gone.base_url
    assert (
        await OllamaProvider(
            "ollama", {"base_url": url, "model": "llama3.2"}, client=client
        ).health()
        is False
    )
