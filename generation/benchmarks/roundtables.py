"""The roundtable benchmark (``manage.py bench_roundtables``): K concurrent sessions through one
Daphne process, five agents streaming at once in each.

A loopback fake of the OpenAI API in its own process (``generation.benchmarks.fake_table``)
answers every step of a session with words of its own (``director-1 director-2 ...``) at
``rate`` words a second. The studio runs in one Daphne subprocess on a fresh SQLite database
(inline runner, in-memory channel layer). For each K, K sessions start at once through
``POST /api/v1/roundtables/stream``, that response being each session's SSE client. Measured:

- ``added_ttft_ms``: for each agent, the client's receipt of its first ``agent_chunk`` minus the
  moment its first word reached the studio (its part's ``first_token_at``), p50 and p99;
- ``batch_delay_ms``: for each chunk event (agents, debate, synthesis, shots), the client's
  receipt minus the moment the batch was cut (``RunEvent.created_at``), p50 and p99;
- server CPU (seconds and percent of a core) and RSS (before, peak, growth per agent stream);
- ``texts_lost_or_mixed``: sessions where an agent's chunks, its ``agent_complete`` response and
  its stored text are not exactly the fake's words for that agent, where any word of another
  agent appears, or where the event ids have a gap (must be 0).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from generation.benchmarks.fake_table import FakeTableProcess
from generation.benchmarks.runs import Sampler, Studio, _epoch, _parse_sse, summary

AGENTS = ("director", "cinematographer", "editor", "colorist", "platform_expert")
TERMINAL = ("done", "cancelled", "error")


@dataclass
class Session:
    index: int
    run_id: str = ""
    events: list[tuple[int, str, float, dict[str, Any]]] = field(default_factory=list)
    ended: str = ""
    refused: bool = False
    errors: list[str] = field(default_factory=list)


async def _follow(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], session: Session
) -> None:
    buffer = ""
    async with client.stream("POST", url, json=body) as response:
        if response.status_code == 429:
            session.refused = True
            await response.aread()
            return
        if response.status_code != 200:
            session.errors.append(f"start: HTTP {response.status_code} {await response.aread()!r}")
            return
        async for chunk in response.aiter_text():
            received = time.time()
            buffer += chunk
            events, buffer = _parse_sse(buffer)
            for fields in events:
                data = json.loads(fields["data"])
                session.events.append((int(fields["id"]), fields["event"], received, data))
                if fields["event"] == "run":
                    session.run_id = data["run_id"]
                elif fields["event"] in TERMINAL:
                    session.ended = fields["event"]
                    if fields["event"] != "done":
                        session.errors.append(f"{fields['event']}: {data.get('message', '')}")


def _stored(
    db_path: Path, run_ids: list[str]
) -> dict[str, tuple[dict[str, float], dict[str, str], dict[int, float]]]:
    out = {}
    with sqlite3.connect(db_path) as db:
        for run_id in run_ids:
            key = run_id.replace("-", "")
            first: dict[str, float] = {}
            texts: dict[str, str] = {}
            for part, at, text in db.execute(
                "SELECT key, first_token_at, text FROM runs_runpart WHERE run_id = ?", (key,)
            ):
                stamp = _epoch(at)
                if stamp is not None:
                    first[part] = stamp
                texts[part] = text
            created = {
                seq: _epoch(at) or 0.0
                for seq, at in db.execute(
                    "SELECT seq, created_at FROM runs_runevent"
                    " WHERE run_id = ? AND event LIKE '%_chunk'",
                    (key,),
                )
            }
            out[run_id] = (first, texts, created)
    return out


def _expected(key: str, tokens: int) -> str:
    return "".join(f"{key}-{n} " for n in range(1, tokens + 1))


async def _phase(
    studio: Studio, project_id: int, token: str, k: int, tokens: int, deadline: float
) -> dict[str, Any]:
    assert studio.process is not None
    sampler = Sampler(studio.process.pid)
    sampler.start()
    started = time.monotonic()
    sessions = [Session(index) for index in range(k)]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=httpx.Timeout(600, connect=60),
    ) as client:
        body = {
            "project": project_id,
            "brief": "A thirty second film about a harbour pilot guiding a ship in at dusk.",
            "platform": "tiktok",
            "duration_seconds": 30,
            "provider": "openai",
        }
        tasks = [
            asyncio.create_task(
                _follow(client, f"{studio.base_url}/api/v1/roundtables/stream", body, session)
            )
            for session in sessions
        ]
        _, unfinished = await asyncio.wait(tasks, timeout=deadline)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
    wall = time.monotonic() - started
    resources = sampler.stop()
    accepted = [s for s in sessions if not s.refused]
    stored = _stored(studio.db_path, [s.run_id for s in accepted if s.run_id])
    ttft: list[float] = []
    delay: list[float] = []
    bad: list[str] = []
    errors: list[str] = []
    for session in accepted:
        errors.extend(session.errors)
        if not session.run_id:
            bad.append(f"session {session.index}: never started")
            continue
        first, texts, created = stored.get(session.run_id, ({}, {}, {}))
        ids = [seq for seq, *_ in session.events]
        if ids != list(range(1, len(ids) + 1)):
            bad.append(f"{session.run_id}: SSE ids with a gap or out of order")
        if session.ended != "done":
            bad.append(f"{session.run_id}: ended with {session.ended or 'nothing'}")
        for seq, event, at, _ in session.events:
            if event.endswith("_chunk") and seq in created:
                delay.append((at - created[seq]) * 1000)
        for key in AGENTS:
            chunks = [
                (at, d)
                for _, event, at, d in session.events
                if event == "agent_chunk" and d.get("agent") == key
            ]
            if chunks and key in first:
                ttft.append((chunks[0][0] - first[key]) * 1000)
            text = "".join(d["content"] for _, d in chunks)
            complete = [
                d
                for _, event, _, d in session.events
                if event == "agent_complete" and d.get("agent") == key
            ]
            expected = _expected(key, tokens)
            others = [other for other in AGENTS if other != key and f"{other}-" in text]
            if (
                text != expected
                or not complete
                or complete[0]["response"] != expected
                or texts.get(key) != expected
                or others
            ):
                bad.append(f"{session.run_id}/{key}: text lost or mixed")
    growth = resources.pop("rss_growth_bytes")
    return {
        "k": k,
        "agent_streams": len(accepted) * len(AGENTS),
        "sessions_accepted": len(accepted),
        "sessions_refused": len(sessions) - len(accepted),
        "sessions_completed": sum(1 for s in accepted if s.ended == "done"),
        "client_errors": len(errors),
        "client_error_kinds": dict(Counter(error[:60] for error in errors)),
        "wall_seconds": round(wall, 1),
        "added_ttft_ms_per_agent": summary(ttft),
        "batch_delay_ms": summary(delay),
        **resources,
        "rss_growth_kb_per_agent_stream": round(growth / 1024 / max(1, len(accepted) * 5), 1),
        "texts_lost_or_mixed": len(bad),
        "problems": (errors[:5] + bad)[:10],
    }


def run_benchmark(ks: list[int], tokens: int, rate: float) -> dict[str, Any]:
    deadline = 180.0 + 8 * tokens / rate
    with (
        tempfile.TemporaryDirectory(prefix="aura-bench-rt-") as temp,
        FakeTableProcess(tokens=tokens, tokens_per_second=rate) as fake,
    ):
        studio = Studio(Path(temp), fake, max(ks) * 5 + 10)
        studio.env["AURA_MAX_STREAMS_PER_USER"] = str(max(ks) + 10)
        try:
            project_id, token = studio.prepare()
            studio.start()
            asyncio.run(_phase(studio, project_id, token, 1, tokens, deadline))
            results = []
            for k in ks:
                results.append(asyncio.run(_phase(studio, project_id, token, k, tokens, deadline)))
                time.sleep(1)
            log = studio.log()
        finally:
            studio.stop()
    by_k = {result["k"]: result for result in results}
    aims: dict[str, Any] = {}
    if 20 in by_k:
        value = by_k[20]["batch_delay_ms"]["p99"]
        aims["batch_delay_p99_under_100ms_at_k20"] = {
            "value": value,
            "met": value is not None and value < 100,
        }
    aims["no_text_lost_or_mixed"] = all(r["texts_lost_or_mixed"] == 0 for r in results)
    problems = [line for line in log.splitlines() if "Traceback" in line or " ERROR " in line]
    return {
        "benchmark": "roundtables",
        "config": {
            "words_per_answer": tokens,
            "fake_words_per_second": rate,
            "ks": ks,
            "cpus": os.cpu_count(),
            "server": "one Daphne process, inline runner, SQLite, in-memory channel layer",
            "clients_per_session": {"sse": 1},
        },
        "results": results,
        "aims": aims,
        "server_log_problems": problems[-20:],
    }
