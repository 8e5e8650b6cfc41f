"""The run kinds of the runs benchmark: what it measures is the run core's streaming, so its
runs stream one prompt per part and nothing else (no validation, no revisions).

``bench``: one part, ``main``, shown as the run's text (as a script's). ``bench_parts``: the
request's ``parts`` parts (``p1``, ``p2``, ...) streaming at once, each from its own call.
"""

from __future__ import annotations

from typing import Any

from generation.providers.base import CompletionRequest
from generation.runs.context import RunContext
from generation.runs.kinds import KindSpec, PartEvents, PartSpec, default_chunk_data

BENCH = "bench"
BENCH_PARTS = "bench_parts"


def _request(ctx: RunContext) -> CompletionRequest:
    return CompletionRequest.from_prompt(str(ctx.run.input.get("prompt") or "Benchmark"))


async def bench_handler(ctx: RunContext) -> dict[str, Any]:
    await ctx.progress("generating", "Writing")
    await ctx.stream_llm(_request(ctx), provider=str(ctx.run.input.get("provider") or "openai"))
    return {}


async def bench_parts_handler(ctx: RunContext) -> dict[str, Any]:
    await ctx.progress("generating", "Writing in parallel")
    count = int(ctx.run.input.get("parts") or 1)
    provider = str(ctx.run.input.get("provider") or "openai")
    work = {
        f"p{number}": ctx.part(f"p{number}", f"Part {number}").stream_llm(
            _request(ctx), provider=provider
        )
        for number in range(1, count + 1)
    }
    results = await ctx.parallel(work)
    return {"failed": sorted(key for key, value in results.items() if isinstance(value, Exception))}


def _part_chunk(part: Any, content: str) -> dict[str, Any]:
    return {"part": part.key, **default_chunk_data(part, content)}


def _main_is_the_run(run_dom_id: str, part: str) -> str:
    return run_dom_id if part == "main" else f"{run_dom_id}-{part}"


BENCH_KIND = KindSpec(
    name=BENCH,
    label="Benchmark run",
    handler=bench_handler,
    parts=(PartSpec("main", "Text"),),
    part_dom_id=_main_is_the_run,
)

BENCH_PARTS_KIND = KindSpec(
    name=BENCH_PARTS,
    label="Benchmark run in parts",
    handler=bench_parts_handler,
    parts=(),
    text_part=None,
    part_events={"*": PartEvents(chunk="chunk", chunk_data=_part_chunk)},
)
