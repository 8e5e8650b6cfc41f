"""Loopback fakes of the LLM providers, speaking their documented wire formats
(../shared/PROTOCOLS.md), for tests anywhere in the suite.

A ``FakeProviderServer`` is a real HTTP server on 127.0.0.1 (``generation.benchmarks.loopback``)
answering from a queue of scripted ``Reply`` objects, one per request (the last one repeats
when the queue runs dry)::

    from tests.fakes.providers import FakeProviderServer, openai_stream, openai_error

    with FakeProviderServer() as fake:
        fake.push(openai_error(429, "Rate limit reached", headers={"retry-after-ms": "5"}))
        fake.push(openai_stream(["Hel", "lo"], usage=(9, 2)))
        provider = OpenAIProvider("openai", {"api_key": "sk-test", "base_url": fake.url("/v1")})
        ...
        fake.requests          # LoopbackRequest list (method, path, query, headers, json())
        fake.disconnects       # clients that went away before their reply ended
        await fake.await_disconnects(1)

A ``Reply`` is a status, headers and a list of *steps*: ``bytes`` are written as one HTTP
chunk, ``Pause(seconds)`` waits, ``HANG`` waits until the client disconnects, ``ABORT`` closes
the connection without ending the body (a broken transfer). ``end`` says how the body ends:
``"normal"`` (terminating chunk), ``"abort"`` or ``"hang"``.

Builders, one family per provider, return a ``Reply`` in that provider's format:
``openai_stream``, ``openai_error``, ``azure_stream``, ``anthropic_stream``, ``anthropic_error``,
``gemini_stream``, ``gemini_error``, ``ollama_stream``, ``ollama_error``; ``sse(...)`` and
``ndjson(...)`` frame raw events for edge cases.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from generation.benchmarks.loopback import (
    ClientGone,
    LoopbackRequest,
    LoopbackResponse,
    LoopbackServer,
)


@dataclass(frozen=True)
class Pause:
    seconds: float


HANG = "hang"
ABORT = "abort"

Step = bytes | Pause | str


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    steps: Sequence[Step] = field(default_factory=list)
    end: str = "normal"


class FakeProviderServer:
    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._last: Reply | None = None
        self._server = LoopbackServer(self._handle)

    def push(self, *replies: Reply) -> FakeProviderServer:
        self._replies.extend(replies)
        return self

    def url(self, path: str = "") -> str:
        return self._server.base_url + path

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def requests(self) -> list[LoopbackRequest]:
        return self._server.requests

    @property
    def disconnects(self) -> int:
        return self._server.disconnects

    async def await_disconnects(self, count: int = 1, within: float = 10.0) -> bool:
        return await self._server.await_disconnects(count, within)

    def __enter__(self) -> FakeProviderServer:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()

    async def _handle(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        if self._replies:
            reply = self._replies.popleft()
            self._last = reply
        elif self._last is not None:
            reply = self._last
        else:
            await response.send_json(500, {"error": {"message": "no reply scripted"}})
            return
        await response.start(reply.status, reply.headers)
        try:
            for step in reply.steps:
                if isinstance(step, bytes):
                    await response.write(step)
                elif isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                elif step == HANG:
                    await response.wait_disconnected()
                    return
                elif step == ABORT:
                    await response.abort()
                    return
            if reply.end == "abort":
                await response.abort()
            elif reply.end == "hang":
                await response.wait_disconnected()
            else:
                await response.end()
        except ClientGone:
            return


SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}
JSON_HEADERS = {"content-type": "application/json"}
NDJSON_HEADERS = {"content-type": "application/x-ndjson"}


def sse(data: Any, event: str | None = None, *, newline: str = "\n") -> bytes:
    """One SSE event; ``data`` that is not a str is JSON-encoded compactly, as the APIs do."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines = [f"event: {event}"] if event else []
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return (newline.join(lines) + newline + newline).encode("utf-8")


def ndjson(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8") + b"\n"


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {**JSON_HEADERS, **(headers or {})}, [json.dumps(body).encode()])


# OpenAI ------------------------------------------------------------------------------------


def openai_chunk(
    content: str | None = None,
    *,
    finish: str | None = None,
    role: str | None = None,
    model: str = "gpt-4o-mini",
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-9x",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": model,
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
        "obfuscation": "a1b2",
    }


def openai_usage_chunk(prompt: int, completion: int, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "id": "chatcmpl-9x",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def openai_events(
    pieces: list[str],
    *,
    usage: tuple[int, int] | None = (9, 2),
    finish: str = "stop",
    done: bool = True,
    model: str = "gpt-4o-mini",
) -> list[bytes]:
    events = [sse(openai_chunk("", role="assistant", model=model))]
    events.extend(sse(openai_chunk(p, model=model)) for p in pieces)
    events.append(sse(openai_chunk(finish=finish, model=model)))
    if usage is not None:
        events.append(sse(openai_usage_chunk(*usage, model=model)))
    if done:
        events.append(b"data: [DONE]\n\n")
    return events


def openai_stream(
    pieces: list[str], *, usage: tuple[int, int] | None = (9, 2), **kwargs: Any
) -> Reply:
    return Reply(200, dict(SSE_HEADERS), openai_events(pieces, usage=usage, **kwargs))


def openai_error(
    status: int,
    message: str,
    *,
    type: str | None = "invalid_request_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return json_reply(status, body, headers)


# Azure OpenAI ------------------------------------------------------------------------------

SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


def azure_prompt_annotation() -> dict[str, Any]:
    return {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": SAFE}],
        "choices": [],
        "usage": None,
    }


def azure_annotation(results: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [
            {
                "index": 0,
                "finish_reason": None,
                "content_filter_results": results or SAFE,
                "content_filter_offsets": {
                    "check_offset": 506,
                    "start_offset": 44,
                    "end_offset": 571,
                },
            }
        ],
        "usage": None,
    }


def azure_stream(
    pieces: list[str],
    *,
    finish: str = "stop",
    usage: tuple[int, int] | None = (9, 2),
    annotation_after: bool = True,
    filter_error: bool = False,
) -> Reply:
    model = "gpt-4o-mini-2024-07-18"
    events = [sse(azure_prompt_annotation()), sse(openai_chunk(role="assistant", model=model))]
    events.extend(sse(openai_chunk(p, model=model)) for p in pieces)
    if filter_error:
        events.append(
            sse(azure_annotation({"error": {"code": "503", "message": "filter unavailable"}}))
        )
    finish_chunk = openai_chunk(finish=finish, model=model)
    if finish == "content_filter":
        finish_chunk["choices"][0]["content_filter_results"] = {
            "protected_material_text": {"detected": True, "filtered": True}
        }
    events.append(sse(finish_chunk))
    if annotation_after:
        events.append(sse(azure_annotation()))
    if usage is not None:
        events.append(sse(openai_usage_chunk(*usage, model=model)))
    events.append(b"data: [DONE]\n\n")
    return Reply(200, dict(SSE_HEADERS), events)


# Anthropic ---------------------------------------------------------------------------------


def anthropic_events(
    pieces: list[str],
    *,
    input_tokens: int = 12,
    output_steps: tuple[int, ...] = (6,),
    stop_reason: str = "end_turn",
    model: str = "claude-sonnet-4-5",
    stop: bool = True,
) -> list[bytes]:
    events = [
        sse(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01A",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": model,
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                },
            },
            "message_start",
        ),
        sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    for piece in pieces:
        events.append(
            sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
                "content_block_delta",
            )
        )
    events.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    for count in output_steps:
        events.append(
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": count},
                },
                "message_delta",
            )
        )
    if stop:
        events.append(sse({"type": "message_stop"}, "message_stop"))
    return events


def anthropic_stream(pieces: list[str], **kwargs: Any) -> Reply:
    return Reply(200, dict(SSE_HEADERS), anthropic_events(pieces, **kwargs))


def anthropic_error_event(error_type: str, message: str) -> bytes:
    return sse({"type": "error", "error": {"type": error_type, "message": message}}, "error")


def anthropic_error(
    status: int,
    error_type: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> Reply:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details:
        error["details"] = details
    return json_reply(status, {"type": "error", "error": error, "request_id": "req_011"}, headers)


# Gemini ------------------------------------------------------------------------------------


def gemini_chunk(
    text: str | None,
    *,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": 0}
    if text is not None:
        candidate["content"] = {"parts": [{"text": text}], "role": "model"}
    if finish:
        candidate["finishReason"] = finish
    chunk: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    }
    if usage:
        chunk["usageMetadata"] = usage
    return chunk


def gemini_stream(
    pieces: list[str],
    *,
    prompt_tokens: int = 7,
    finish: str | None = "STOP",
) -> Reply:
    events = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        usage = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
        if last and finish:
            usage = {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": len(pieces),
                "totalTokenCount": prompt_tokens + len(pieces),
            }
        events.append(
            sse(gemini_chunk(piece, finish=finish if last else None, usage=usage), newline="\r\n")
        )
    return Reply(200, dict(SSE_HEADERS), events)


def gemini_error(
    status: int, grpc_status: str, message: str, details: list[dict[str, Any]] | None = None
) -> Reply:
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc_status}
    if details:
        error["details"] = details
    body = {"error": error}
    text = json.dumps(body, indent=2)  # Google pretty-prints its error bodies
    return Reply(status, dict(JSON_HEADERS), [text.encode()])


# Ollama ------------------------------------------------------------------------------------


def ollama_line(text: str, *, done: bool = False, **extra: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "model": "llama3.2",
        "created_at": "2026-01-01T00:00:00.1Z",
        "message": {"role": "assistant", "content": text},
        "done": done,
    }
    line.update(extra)
    return line


def ollama_stream(
    pieces: list[str],
    *,
    final_text: str = "",
    counts: tuple[int, int] | None = (26, 2),
    done: bool = True,
    done_reason: str = "stop",
) -> Reply:
    lines = [ndjson(ollama_line(p)) for p in pieces]
    if done:
        extra: dict[str, Any] = {
            "done_reason": done_reason,
            "total_duration": 183000000,
            "load_duration": 41000000,
        }
        if counts is not None:
            extra.update(
                prompt_eval_count=counts[0],
                prompt_eval_duration=24000000,
                eval_count=counts[1],
                eval_duration=11000000,
            )
        lines.append(ndjson(ollama_line(final_text, done=True, **extra)))
    return Reply(200, dict(NDJSON_HEADERS), lines)


def ollama_error(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})


def ollama_tags(*names: str) -> Reply:
    return json_reply(
        200,
        {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2026-01-01T00:00:00Z",
                    "size": 2019393189,
                    "digest": "a80c4f17acd5",
                    "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B"},
                }
                for name in names
            ]
        },
    )
