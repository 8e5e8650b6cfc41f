"""``python manage.py bench_providers``: what our streaming adapter costs over a bare read.

A loopback fake OpenAI-compatible server (``generation.benchmarks.fake_openai``, in a separate
process so its CPU is not counted) emits tokens as fast as it can. The same stream is read
(1) by a bare ``httpx`` loop over the raw body bytes and (2) through ``OpenAIProvider.stream()``
(SSE decoding, JSON parsing, usage, timeouts, events). For each: tokens per second and CPU
seconds per 1,000 tokens, measured with ``time.process_time`` in this process. Rounds alternate
and the median is reported. Prints JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandParser

from generation.benchmarks.fake_openai import FakeOpenAIServer
from generation.providers.base import CompletionRequest, Finish, TextDelta
from generation.providers.openai import OpenAIProvider

TARGET_OVERHEAD_PERCENT = 25.0


async def _bare(client: httpx.AsyncClient, base_url: str, body: dict[str, Any]) -> int:
    chunks = 0
    async with client.stream(
        "POST",
        f"{base_url}/chat/completions",
        json=body,
        headers={"authorization": "Bearer bench", "accept": "text/event-stream"},
    ) as response:
        async for _chunk in response.aiter_raw():
            chunks += 1
    return chunks


async def _adapter(provider: OpenAIProvider, request: CompletionRequest) -> int:
    tokens = 0
    async for event in provider.stream(request):
        if type(event) is TextDelta:
            tokens += 1
        elif isinstance(event, Finish):
            assert event.usage.reported
    return tokens


async def _measure(tokens: int, rounds: int, base_url: str) -> dict[str, Any]:
    request = CompletionRequest.from_prompt("Benchmark", max_tokens=tokens, model="gpt-4o-mini")
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Benchmark"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": tokens,
    }
    samples: dict[str, list[tuple[float, float]]] = {"bare": [], "adapter": []}
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client:
        provider = OpenAIProvider(
            "openai",
            {"api_key": "bench", "base_url": base_url, "model": "gpt-4o-mini"},
            client=client,
        )
        await _bare(client, base_url, body)
        await _adapter(provider, request)
        for _ in range(rounds):
            for name in ("bare", "adapter"):
                gc.collect()
                cpu, wall = time.process_time(), time.perf_counter()
                if name == "bare":
                    await _bare(client, base_url, body)
                else:
                    seen = await _adapter(provider, request)
                    if seen != tokens:
                        raise RuntimeError(f"the adapter saw {seen} tokens, expected {tokens}")
                samples[name].append((time.process_time() - cpu, time.perf_counter() - wall))
    result: dict[str, Any] = {}
    for name, values in samples.items():
        cpu = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        result[name] = {
            "tokens_per_second": round(tokens / wall, 1),
            "cpu_seconds_per_1k_tokens": round(cpu / tokens * 1000, 6),
            "wall_seconds": round(wall, 4),
            "cpu_seconds": round(cpu, 4),
        }
    bare_cpu = result["bare"]["cpu_seconds_per_1k_tokens"]
    ours_cpu = result["adapter"]["cpu_seconds_per_1k_tokens"]
    overhead = (ours_cpu / bare_cpu - 1) * 100 if bare_cpu else 0.0
    result["adapter_cpu_overhead_percent"] = round(overhead, 1)
    result["target_overhead_percent"] = TARGET_OVERHEAD_PERCENT
    result["meets_target"] = overhead <= TARGET_OVERHEAD_PERCENT
    return result


class Command(BaseCommand):
    help = "Benchmark the streaming adapter against a bare read of the same loopback stream."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tokens", type=int, default=20_000, help="Tokens per stream.")
        parser.add_argument("--rounds", type=int, default=7, help="Measured rounds (median).")

    def handle(self, *args: Any, **options: Any) -> None:
        tokens, rounds = options["tokens"], options["rounds"]
        with FakeOpenAIServer(tokens=tokens, process=True) as fake:
            figures = asyncio.run(_measure(tokens, rounds, fake.base_url))
        report = {"tokens": tokens, "rounds": rounds, "server": "separate process", **figures}
        self.stdout.write(json.dumps(report, indent=2))
