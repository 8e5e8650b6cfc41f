"""A loopback fake of OpenAI's chat completions API that answers from a script of replies.

Each ``POST /v1/chat/completions`` with ``stream: true`` takes the next reply from the queue (the
last one repeats) and streams it as OpenAI does: ``chat.completion.chunk`` events with
``choices[0].delta.content``, a finish chunk, the ``stream_options.include_usage`` chunk with
``choices: []``, then ``data: [DONE]``. A reply with ``cut_after`` words stops there and closes
the connection without ``[DONE]`` (a truncated stream).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from generation.benchmarks.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer


@dataclass(frozen=True)
class Answer:
    text: str
    cut_after: int | None = None


class ScriptedOpenAI:
    def __init__(self, *answers: Answer | str) -> None:
        self._answers = [a if isinstance(a, Answer) else Answer(a) for a in answers]
        self._lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []
        self._server = LoopbackServer(self._handle)

    @property
    def base_url(self) -> str:
        return f"{self._server.base_url}/v1"

    def push(self, *answers: Answer | str) -> None:
        with self._lock:
            self._answers.extend(a if isinstance(a, Answer) else Answer(a) for a in answers)

    def _next(self) -> Answer:
        with self._lock:
            if len(self._answers) > 1:
                return self._answers.pop(0)
            return self._answers[0]

    async def _handle(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        if request.path != "/v1/chat/completions" or request.method != "POST":
            error = {"message": "not found", "type": "invalid_request_error"}
            await response.send_json(404, {"error": error})
            return
        body = request.json()
        with self._lock:
            self.bodies.append(body)
        answer = self._next()
        model = body.get("model") or "gpt-4o-mini"
        await response.start(200, {"content-type": "text/event-stream; charset=utf-8"})
        pieces = re.findall(r"\s*\S+", answer.text)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            event = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            return f"data: {json.dumps(event)}\n\n".encode()

        await response.write(chunk({"role": "assistant", "content": ""}))
        for index, piece in enumerate(pieces):
            if answer.cut_after is not None and index >= answer.cut_after:
                await response.abort()
                return
            await response.write(chunk({"content": piece}))
        await response.write(chunk({}, "stop"))
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
        usage: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": len(pieces),
                "total_tokens": prompt + len(pieces),
            },
        }
        await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.end()

    def __enter__(self) -> ScriptedOpenAI:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()
