"""Following a run's event log: replay from the database, then the live tail.

``follow_run(run_id, after)`` joins the run's group first, replays the stored events after
``after``, then yields live events in ``seq`` order with no gaps (a gap is filled from the
database, and a quiet spell makes it look there too, since the channel layer may drop live
messages). It ends after the terminal event. While nothing happens it yields ``None`` every
``keepalive`` seconds, which the SSE writer turns into a ``: keep-alive`` comment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from uuid import UUID

from generation.runs import conf, fanout
from generation.runs.db import db_call
from generation.runs.events import TERMINAL_EVENTS
from generation.runs.models import Run
from generation.runs.selectors import StoredEvent, run_events_after


def _run_active(run_id: UUID | str) -> bool:
    status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    return status in ("queued", "running")


async def follow_run(
    run_id: UUID | str, after: int = 0, *, keepalive: float | None = None
) -> AsyncIterator[StoredEvent | None]:
    keepalive = conf.keepalive_seconds() if keepalive is None else keepalive
    poll = min(conf.idle_poll_seconds(), keepalive)
    loop = asyncio.get_running_loop()
    last = after
    async with fanout.subscribe(run_id) as inbox:
        for stored in await db_call(run_events_after, run_id, last):
            yield stored
            last = stored.seq
            if stored.event in TERMINAL_EVENTS:
                return
        if not await db_call(_run_active, run_id):
            for stored in await db_call(run_events_after, run_id, last):
                yield stored
                last = stored.seq
            return
        quiet_since = sent_since = loop.time()
        while True:
            now = loop.time()
            wait = max(0.0, min(poll - (now - quiet_since), keepalive - (now - sent_since)))
            try:
                message = await asyncio.wait_for(inbox.get(), timeout=wait)
            except TimeoutError:
                message = None
            if message is None:
                now = loop.time()
                if now - quiet_since >= poll:
                    quiet_since = now
                    stored_events = await db_call(run_events_after, run_id, last)
                    for stored in stored_events:
                        yield stored
                        last = stored.seq
                        sent_since = loop.time()
                        if stored.event in TERMINAL_EVENTS:
                            return
                    if not stored_events and not await db_call(_run_active, run_id):
                        return
                if loop.time() - sent_since >= keepalive:
                    yield None
                    sent_since = loop.time()
                continue
            quiet_since = loop.time()
            seq = int(message["seq"])
            if seq <= last:
                continue
            if seq > last + 1:
                for stored in await db_call(run_events_after, run_id, last, seq):
                    yield stored
                    last = stored.seq
                    if stored.event in TERMINAL_EVENTS:
                        return
                if last != seq - 1:
                    continue
            yield StoredEvent(seq, str(message["event"]), message["data"])
            last = seq
            sent_since = loop.time()
            if message["event"] in TERMINAL_EVENTS:
                return


def sse_event(event: StoredEvent) -> bytes:
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.event}\ndata: {data}\n\n".encode()


KEEPALIVE = b": keep-alive\n\n"


async def sse_stream(run_id: UUID | str, after: int = 0) -> AsyncIterator[bytes]:
    """The run's events as SSE bytes, until the terminal event."""
    yield b": stream of run " + str(run_id).encode() + b"\n\n"
    async for event in follow_run(run_id, after):
        yield KEEPALIVE if event is None else sse_event(event)
