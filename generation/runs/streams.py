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
from generation.runs.models import ACTIVE_STATUSES, Run
from generation.runs.selectors import StoredEvent, run_events_after


def _run_active(run_id: UUID | str) -> bool:
    status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    return status in ACTIVE_STATUSES


async def follow_run(
    run_id: UUID | str, after: int = 0, *, keepalive: float | None = None
) -> AsyncIterator[StoredEvent | None]:
    async for batch in follow_run_batches(run_id, after, keepalive=keepalive):
        if batch is None:
            yield None
            continue
        for event in batch:
            yield event


async def follow_run_batches(
    run_id: UUID | str, after: int = 0, *, keepalive: float | None = None
) -> AsyncIterator[list[StoredEvent] | None]:
    """``follow_run``, with the events available at once grouped (a follower that fell behind
    catches up in one write)."""
    keepalive = conf.keepalive_seconds() if keepalive is None else keepalive
    poll = min(conf.idle_poll_seconds(), keepalive)
    loop = asyncio.get_running_loop()
    last = after

    def take(events: list[StoredEvent]) -> tuple[list[StoredEvent], bool]:
        """The events after ``last`` in order, up to the terminal one; and whether it came."""
        nonlocal last
        taken: list[StoredEvent] = []
        for event in events:
            if event.seq != last + 1:
                continue
            taken.append(event)
            last = event.seq
            if event.event in TERMINAL_EVENTS:
                return taken, True
        return taken, False

    async with fanout.subscribe(run_id) as inbox:
        batch, ended = take(await db_call(run_events_after, run_id, last))
        if batch:
            yield batch
        if ended:
            return
        if not await db_call(_run_active, run_id):
            batch, _ = take(await db_call(run_events_after, run_id, last))
            if batch:
                yield batch
            return
        quiet_since = sent_since = loop.time()
        while True:
            now = loop.time()
            wait = max(0.0, min(poll - (now - quiet_since), keepalive - (now - sent_since)))
            try:
                messages = [await asyncio.wait_for(inbox.get(), timeout=wait)]
            except TimeoutError:
                messages = []
            if not messages:
                now = loop.time()
                if now - quiet_since >= poll:
                    quiet_since = now
                    batch, ended = take(await db_call(run_events_after, run_id, last))
                    if batch:
                        yield batch
                        sent_since = loop.time()
                    if ended:
                        return
                    if not batch and not await db_call(_run_active, run_id):
                        # Ended between the two reads: its last events are stored by now.
                        batch, _ = take(await db_call(run_events_after, run_id, last))
                        if batch:
                            yield batch
                        return
                if loop.time() - sent_since >= keepalive:
                    yield None
                    sent_since = loop.time()
                continue
            while len(messages) < _BATCH_LIMIT:
                try:
                    messages.append(inbox.get_nowait())
                except asyncio.QueueEmpty:
                    break
            quiet_since = loop.time()
            events: list[StoredEvent] = []
            for message in messages:
                seq = int(message["seq"])
                if seq <= last:
                    continue
                if seq > last + 1:
                    filled, ended = take(await db_call(run_events_after, run_id, last, seq))
                    events.extend(filled)
                    if ended:
                        break
                    if last != seq - 1:
                        continue
                received, ended = take(
                    [
                        StoredEvent(
                            seq,
                            str(message["event"]),
                            message["data"],
                            str(message.get("part") or ""),
                        )
                    ]
                )
                events.extend(received)
                if ended:
                    break
            if events:
                yield events
                sent_since = loop.time()
                if events[-1].event in TERMINAL_EVENTS:
                    return


_BATCH_LIMIT = 200


def sse_event(event: StoredEvent) -> bytes:
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.event}\ndata: {data}\n\n".encode()


KEEPALIVE = b": keep-alive\n\n"


async def sse_stream(run_id: UUID | str, after: int = 0) -> AsyncIterator[bytes]:
    """The run's events as SSE bytes, until the terminal event."""
    yield b": stream of run " + str(run_id).encode() + b"\n\n"
    async for batch in follow_run_batches(run_id, after):
        yield KEEPALIVE if batch is None else b"".join(sse_event(event) for event in batch)
