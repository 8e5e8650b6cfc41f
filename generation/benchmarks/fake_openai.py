"""A loopback fake of the OpenAI chat completions API that streams as fast as asked.

It speaks the documented wire format (../shared/PROTOCOLS.md §1): ``POST /v1/chat/completions``
with ``stream: true`` answers ``text/event-stream`` with one ``chat.completion.chunk`` per token,
a finish chunk, the ``include_usage`` chunk (``choices: []``) when asked, then ``data: [DONE]``.
Without ``stream`` it answers one ``chat.completion`` JSON. ``GET /v1/models`` lists the model.
A request without ``Authorization: Bearer ...`` gets the OpenAI 401 error body.

Use in a test or benchmark (server in a background thread of this process)::

    from generation.benchmarks.fake_openai import FakeOpenAIServer

    with FakeOpenAIServer(tokens=500, tokens_per_second=None) as fake:
        fake.base_url        # "http://127.0.0.1:<port>/v1"  (OPENAI_BASE_URL form)
        fake.requests_seen   # chat completion requests received so far
        fake.disconnects     # streams the client closed before [DONE]
        fake.configure(tokens=2000, tokens_per_second=50.0)

or in a separate process, so that its CPU is not counted against the client::

    with FakeOpenAIServer(tokens=10_000, process=True) as fake: ...

``tokens`` is how many content tokens each stream emits (each token is ``piece``); with ``text``
the fake answers that text instead, a token per word (with the spaces before it);
``tokens_per_second=None`` emits as fast as the socket takes them, a number paces them.
``first_token_delay`` (seconds) waits before the first token. The same counters are served as
JSON at ``GET /_fake/stats`` and the settings can be changed with ``POST /_fake/config``, which is
how the process mode reads and configures the child. From a shell:
``python -m generation.benchmarks.fake_openai --tokens 1000 --rate 0`` prints
``READY <base_url>`` and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

import httpx

from generation.benchmarks.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer

_BATCH = 64


class _State:
    def __init__(
        self,
        tokens: int,
        tokens_per_second: float | None,
        piece: str,
        model: str,
        first_token_delay: float,
        text: str = "",
    ) -> None:
        self.text = text
        self.tokens = tokens
        self.tokens_per_second = tokens_per_second
        self.piece = piece
        self.model = model
        self.first_token_delay = first_token_delay
        self.requests_seen = 0
        self.completed = 0
        self.lock = threading.Lock()

    def configure(self, values: dict[str, Any]) -> None:
        if "tokens" in values:
            self.tokens = int(values["tokens"])
        if "tokens_per_second" in values:
            rate = values["tokens_per_second"]
            self.tokens_per_second = float(rate) if rate else None
        if "piece" in values:
            self.piece = str(values["piece"])
        if "model" in values:
            self.model = str(values["model"])
        if "first_token_delay" in values:
            self.first_token_delay = float(values["first_token_delay"])
        if "text" in values:
            self.text = str(values["text"] or "")

    def pieces(self) -> list[str]:
        """The content of each token of an answer."""
        if self.text:
            return re.findall(r"\s*\S+", self.text)
        return [self.piece] * self.tokens


def _chunk(model: str, created: int, delta: dict[str, Any], finish: str | None) -> bytes:
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _prompt_tokens(body: dict[str, Any]) -> int:
    text = "".join(str(m.get("content", "")) for m in body.get("messages", []))
    return max(1, len(text) // 4)


class _Handler:
    def __init__(self, state: _State, server_ref: list[LoopbackServer]) -> None:
        self.state = state
        self.server_ref = server_ref

    async def __call__(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        state = self.state
        if request.path == "/_fake/stats":
            server = self.server_ref[0]
            await response.send_json(
                200,
                {
                    "requests_seen": state.requests_seen,
                    "completed": state.completed,
                    "disconnects": server.disconnects,
                },
            )
            return
        if request.path == "/_fake/config" and request.method == "POST":
            state.configure(request.json() or {})
            await response.send_json(200, {"ok": True})
            return
        if not request.headers.get("authorization", "").startswith("Bearer "):
            await response.send_json(
                401,
                {
                    "error": {
                        "message": "You didn't provide an API key.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        if request.path.endswith("/models") and request.method == "GET":
            await response.send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": state.model, "object": "model", "owned_by": "fake"}],
                },
            )
            return
        if not request.path.endswith("/chat/completions") or request.method != "POST":
            await response.send_json(
                404, {"error": {"message": "Not found", "type": "invalid_request_error"}}
            )
            return
        with state.lock:
            state.requests_seen += 1
        body = request.json() or {}
        model = str(body.get("model") or state.model)
        if not body.get("stream"):
            await self._complete(response, body, model)
            return
        await self._stream(response, body, model)

    async def _complete(self, response: LoopbackResponse, body: dict[str, Any], model: str) -> None:
        state = self.state
        prompt = _prompt_tokens(body)
        await response.send_json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "".join(state.pieces()),
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": len(state.pieces()),
                    "total_tokens": prompt + len(state.pieces()),
                },
            },
        )
        with state.lock:
            state.completed += 1

    async def _stream(self, response: LoopbackResponse, body: dict[str, Any], model: str) -> None:
        state = self.state
        pieces, rate, delay = state.pieces(), state.tokens_per_second, state.first_token_delay
        tokens = len(pieces)
        created = int(time.time())
        await response.start(
            200,
            {"content-type": "text/event-stream; charset=utf-8", "x-request-id": "req_fake"},
        )
        await response.write(_chunk(model, created, {"role": "assistant", "content": ""}, None))
        if delay:
            await asyncio.sleep(delay)
        uniform = len(set(pieces)) <= 1
        token = _chunk(model, created, {"content": pieces[0] if pieces else ""}, None)
        if rate:
            interval = 1.0 / rate
            started = time.monotonic()
            for index in range(tokens):
                if uniform:
                    await response.write(token)
                else:
                    await response.write(_chunk(model, created, {"content": pieces[index]}, None))
                wait = started + (index + 1) * interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
        elif uniform:
            sent = 0
            while sent < tokens:
                batch = min(_BATCH, tokens - sent)
                await response.write_many([token] * batch)
                sent += batch
        else:
            await response.write_many(
                [_chunk(model, created, {"content": piece}, None) for piece in pieces]
            )
        await response.write(_chunk(model, created, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt = _prompt_tokens(body)
            usage = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": tokens,
                    "total_tokens": prompt + tokens,
                },
            }
            await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.end()
        with state.lock:
            state.completed += 1


class FakeOpenAIServer:
    """The fake in a background thread (default) or a child process (``process=True``)."""

    def __init__(
        self,
        *,
        tokens: int = 100,
        tokens_per_second: float | None = None,
        piece: str = "tok ",
        model: str = "gpt-4o-mini",
        first_token_delay: float = 0.0,
        text: str = "",
        process: bool = False,
    ) -> None:
        self._state = _State(tokens, tokens_per_second, piece, model, first_token_delay, text)
        self._process = process
        self._server: LoopbackServer | None = None
        self._child: subprocess.Popen[str] | None = None
        self._root = ""

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of the fake (ends in ``/v1``)."""
        return f"{self._root}/v1"

    @property
    def root_url(self) -> str:
        return self._root

    def stats(self) -> dict[str, int]:
        if self._server is not None:
            return {
                "requests_seen": self._state.requests_seen,
                "completed": self._state.completed,
                "disconnects": self._server.disconnects,
            }
        data = httpx.get(f"{self._root}/_fake/stats", timeout=10).json()
        return {key: int(value) for key, value in data.items()}

    @property
    def requests_seen(self) -> int:
        return self.stats()["requests_seen"]

    @property
    def completed(self) -> int:
        return self.stats()["completed"]

    @property
    def disconnects(self) -> int:
        return self.stats()["disconnects"]

    def wait_for_disconnects(self, count: int = 1, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.disconnects >= count:
                return True
            time.sleep(0.01)
        return self.disconnects >= count

    def configure(self, **values: Any) -> None:
        if self._server is not None:
            self._state.configure(values)
        else:
            httpx.post(f"{self._root}/_fake/config", json=values, timeout=10).raise_for_status()

    def start(self) -> FakeOpenAIServer:
        if self._process:
            state = self._state
            args = [
                sys.executable,
                "-m",
                "generation.benchmarks.fake_openai",
                "--tokens",
                str(state.tokens),
                "--rate",
                str(state.tokens_per_second or 0),
                "--piece",
                state.piece,
                "--model",
                state.model,
                "--first-token-delay",
                str(state.first_token_delay),
            ]
            self._child = subprocess.Popen(
                args, stdout=subprocess.PIPE, text=True, cwd=_project_root()
            )
            assert self._child.stdout is not None
            line = self._child.stdout.readline().strip()
            if not line.startswith("READY "):
                self._child.kill()
                self._child.wait()
                raise RuntimeError(f"the fake OpenAI server did not start: {line!r}")
            self._root = line.removeprefix("READY ")
            if state.text:
                self.configure(text=state.text)
            return self
        holder: list[LoopbackServer] = []
        server = LoopbackServer(_Handler(self._state, holder))
        holder.append(server)
        server.start()
        self._server = server
        self._root = server.base_url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._child is not None:
            self._child.terminate()
            try:
                self._child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            if self._child.stdout is not None:
                self._child.stdout.close()
            self._child = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _project_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent.parent)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback fake OpenAI streaming server.")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0, help="tokens per second; 0 = no limit")
    parser.add_argument("--piece", default="tok ")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    options = parser.parse_args(argv)
    state = _State(
        options.tokens,
        options.rate or None,
        options.piece,
        options.model,
        options.first_token_delay,
    )
    holder: list[LoopbackServer] = []
    server = LoopbackServer(_Handler(state, holder))
    holder.append(server)
    server.start()
    print(f"READY {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
