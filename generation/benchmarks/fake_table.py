"""A loopback fake of the OpenAI chat completions API that answers a roundtable: each request
gets the answer its step asks for, read from the prompt as a real model would, so that every
part of a session has text of its own (and a test or benchmark can tell if two got mixed).

- an agent's analysis: ``tokens`` words ``<agent key>-<n>`` (``director-1 director-2 ...``);
- the judge: one JSON object naming ``challenger`` and ``responder`` with ``strength``;
- the debate: ``question-<n>`` words, then ``answer-<n>`` words;
- the synthesis: ``prompt-<n>`` words;
- the shot list: a Markdown table of ``shots`` shots whose durations add up to the target read
  from the prompt.

``Behaviour`` per agent key changes that agent's answer: ``first_token_delay`` (seconds before
its first word), ``abort_after`` (words after which the connection is closed mid-stream: a
truncated answer), ``tokens_per_second``. It speaks the documented streaming format
(../shared/PROTOCOLS.md §1): ``chat.completion.chunk`` events, the ``include_usage`` chunk,
``data: [DONE]``. ``python -m generation.benchmarks.fake_table --rate 30`` serves it in its own
process and prints ``READY <base_url>``.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation.benchmarks.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer

AGENT_NAMES = {
    "Director": "director",
    "Cinematographer": "cinematographer",
    "Editor": "editor",
    "Colorist": "colorist",
    "Platform Expert": "platform_expert",
}


@dataclass
class Behaviour:
    first_token_delay: float = 0.0
    abort_after: int | None = None
    tokens_per_second: float | None = None


@dataclass
class TableState:
    tokens: int = 24
    tokens_per_second: float | None = 60.0
    challenger: str = "director"
    responder: str = "editor"
    strength: float = 0.8
    topic: str = "how fast the opening cuts"
    shots: int = 4
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    """The step of every request, in the order they came."""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    """The body of every request, in the order they came."""
    texts: dict[str, list[str]] = field(default_factory=dict)
    """Answers of a step (``synthesis``, ``shots``) or an agent's analysis (its key) to give,
    in turn, instead of the generated words; the last one is kept for later requests."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _step(body: dict[str, Any]) -> tuple[str, str]:
    """Which step a request is for, and whose (an agent key for an analysis)."""
    system = str(body.get("messages", [{}])[0].get("content", ""))
    messages = [m for m in body.get("messages", []) if m.get("role") == "user"]
    user = str(messages[-1].get("content", "")) if messages else ""
    if "moderate a video pre-production roundtable" in system:
        return "judge", ""
    if "ONE pointed question" in system:
        return "question", ""
    if "challenges you about" in system:
        return "answer", ""
    found = re.search(r"Your analysis as the (.+?), on ", user)
    if found and found.group(1) in AGENT_NAMES:
        return "analysis", AGENT_NAMES[found.group(1)]
    if "The final video prompt:" in user:
        return "shots", ""
    return "synthesis", ""


def _target_seconds(body: dict[str, Any]) -> int:
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    found = re.search(r"add up to exactly (\d+)", text)
    return int(found.group(1)) if found else 30


def answer_words(state: TableState, step: str, who: str, body: dict[str, Any]) -> list[str]:
    """The answer as the pieces it streams in (each a word with the space after it)."""
    scripted = state.texts.get(who or step)
    if scripted:
        text = scripted.pop(0) if len(scripted) > 1 else scripted[0]
        return re.findall(r"\S+\s*|\s+", text)
    if step == "analysis":
        return [f"{who}-{n} " for n in range(1, state.tokens + 1)]
    if step == "judge":
        judgement = {
            "challenger": state.challenger,
            "responder": state.responder,
            "topic": state.topic,
            "strength": state.strength,
        }
        return [json.dumps(judgement)]
    if step in ("question", "answer"):
        return [f"{step}-{n} " for n in range(1, state.tokens // 2 + 1)]
    if step == "synthesis":
        return [f"prompt-{n} " for n in range(1, state.tokens + 1)]
    seconds = _target_seconds(body)
    count = max(1, state.shots)
    durations = [seconds // count] * count
    durations[-1] += seconds - sum(durations)
    rows = [
        "| # | Shot type | Description | Duration (s) | Camera | Lens | Lighting | Color |"
        " On-screen text |\n",
        "|---|---|---|---|---|---|---|---|---|\n",
    ]
    for number, duration in enumerate(durations, start=1):
        rows.append(
            f"| {number} | Wide | Shot {number} of the film | {duration} | Static | 24mm |"
            f" Soft daylight | Warm | — |\n"
        )
    return rows


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-table",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class _Handler:
    def __init__(self, state: TableState) -> None:
        self.state = state

    async def __call__(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        state = self.state
        if request.path == "/_fake/config" and request.method == "POST":
            values = request.json() or {}
            for name in ("tokens", "tokens_per_second", "strength", "shots"):
                if name in values:
                    setattr(state, name, values[name])
            await response.send_json(200, {"ok": True})
            return
        if request.path == "/_fake/steps":
            await response.send_json(200, {"steps": list(state.steps)})
            return
        if not request.path.endswith("/chat/completions") or request.method != "POST":
            await response.send_json(404, {"error": {"message": "Not found"}})
            return
        body = request.json() or {}
        step, who = _step(body)
        with state.lock:
            state.steps.append(f"{step}:{who}" if who else step)
            state.bodies.append(body)
        behaviour = state.behaviours.get(who or step, Behaviour())
        words = answer_words(state, step, who, body)
        model = str(body.get("model") or "gpt-4o-mini")
        rate = behaviour.tokens_per_second or state.tokens_per_second
        await response.start(200, {"content-type": "text/event-stream; charset=utf-8"})
        await response.write(_chunk(model, {"role": "assistant", "content": ""}))
        if behaviour.first_token_delay:
            await asyncio.sleep(behaviour.first_token_delay)
        started = time.monotonic()
        for index, word in enumerate(words):
            if behaviour.abort_after is not None and index >= behaviour.abort_after:
                await response.abort()
                return
            await response.write(_chunk(model, {"content": word}))
            if rate:
                wait = started + (index + 1) / rate - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
        await response.write(_chunk(model, {}, "stop"))
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
        usage = {
            "id": "chatcmpl-table",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": len(words),
                "total_tokens": prompt + len(words),
            },
        }
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.end()


class FakeTable:
    """The fake in a background thread of this process."""

    def __init__(self, **settings: Any) -> None:
        self.state = TableState(**settings)
        self.server = LoopbackServer(_Handler(self.state))

    @property
    def base_url(self) -> str:
        return f"{self.server.base_url}/v1"

    @property
    def disconnects(self) -> int:
        return self.server.disconnects

    def say(self, who: str, *texts: str) -> None:
        """Answer ``who`` (an agent key, ``synthesis`` or ``shots``) with ``texts`` in turn."""
        self.state.texts[who] = list(texts)

    def requests_for(self, step: str) -> list[dict[str, Any]]:
        """The bodies of the requests of one step (``analysis:<agent>``, ``synthesis``, ...)."""
        with self.state.lock:
            return [
                b for s, b in zip(self.state.steps, self.state.bodies, strict=True) if s == step
            ]

    def behave(self, who: str, **behaviour: Any) -> None:
        self.state.behaviours[who] = Behaviour(**behaviour)

    def __enter__(self) -> FakeTable:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


class FakeTableProcess:
    """The fake in a child process (its CPU is not counted against the studio's)."""

    def __init__(self, *, tokens: int = 24, tokens_per_second: float = 30.0) -> None:
        self.tokens = tokens
        self.tokens_per_second = tokens_per_second
        self._child: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> FakeTableProcess:
        args = [
            sys.executable,
            "-m",
            "generation.benchmarks.fake_table",
            "--tokens",
            str(self.tokens),
            "--rate",
            str(self.tokens_per_second),
        ]
        root = Path(__file__).resolve().parents[2]
        self._child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=root)
        assert self._child.stdout is not None
        line = self._child.stdout.readline().strip()
        if not line.startswith("READY "):
            self._child.kill()
            raise RuntimeError(f"the fake roundtable server did not start: {line!r}")
        self.base_url = line.removeprefix("READY ")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            self._child.terminate()
            self._child.wait(timeout=10)
            if self._child.stdout is not None:
                self._child.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="A loopback fake OpenAI server for roundtables.")
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--rate", type=float, default=30.0)
    args = parser.parse_args()
    state = TableState(tokens=args.tokens, tokens_per_second=args.rate or None)
    server = LoopbackServer(_Handler(state))
    server.start()
    print(f"READY {server.base_url}/v1", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
