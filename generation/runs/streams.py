"""Following a run's event log: replay from the database, then the live tail.

``follow_run(run_id, after)`` joins the run's group first, replays the stored events after
``after``, then yields live events in ``seq`` order with no gaps (a gap is filled from the
database, and a quiet spell makes it look there too, since the channel layer may drop live
messages). It ends after the terminal event. While nothing happens it yields ``None`` every
``keepalive`` seconds, which the SSE writer turns into a ``: keep-alive`` comment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from generation.runs import conf
from generation.runs.events import EVENT_MESSAGE_TYPE, TERMINAL_EVENTS
from generation.runs.models import Run, group_name
from generation.runs.selectors import StoredEvent, run_events_after


def _run_active(run_id: UUID | str) -> bool:
    status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    return status in ("queued", "running")


async def follow_run(
    run_id: UUID | str, after: int = 0, *, keepalive: float | None = None
) -> AsyncIterator[StoredEvent | None]:
    keepalive = conf.keepalive_seconds() if keepalive is None else keepalive
    poll = min(conf.idle_poll_seconds(), keepalive)
    layer = get_channel_layer()
    assert layer is not None
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    channel = await layer.new_channel("runs-follow")
    group = group_name(run_id)
    await layer.group_add(group, channel)

    async def pump() -> None:
        while True:
            message = await layer.receive(channel)
            if message.get("type") == EVENT_MESSAGE_TYPE:
                inbox.put_nowait(message)

    pumping = loop.create_task(pump(), name=f"follow-{run_id}")
    last = after
    try:
        for stored in await database_sync_to_async(run_events_after)(run_id, last):
            yield stored
            last = stored.seq
            if stored.event in TERMINAL_EVENTS:
                return
        if not await database_sync_to_async(_run_active)(run_id):
            for stored in await database_sync_to_async(run_events_after)(run_id, last):
                yield stored
                last = stored.seq
            return
        quiet_since = loop.time()
        sent_since = loop.time()
        while True:
            wait = max(
                0.0, min(poll - (loop.time() - quiet_since), keepalive - (loop.time() - sent_since))
            )
            try:
                message = await asyncio.wait_for(inbox.get(), timeout=wait)
            except TimeoutError:
                message = None
            if message is None:
                now = loop.time()
                if now - quiet_since >= poll:
                    quiet_since = now
                    stored_events = await database_sync_to_async(run_events_after)(run_id, last)
                    for stored in stored_events:
                        yield stored
                        last = stored.seq
                        sent_since = loop.time()
                        if stored.event in TERMINAL_EVENTS:
                            return
                    if not stored_events and not await database_sync_to_async(_run_active)(run_id):
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
                for stored in await database_sync_to_async(run_events_after)(run_id, last, seq):
                    yield stored
                    last = stored.seq
                    if stored.event in TERMINAL_EVENTS:
                        return
                if last != seq - 1:
                    continue
            yield StoredEvent(seq, str(message["event"]), dict(message["data"]))
            last = seq
            sent_since = loop.time()
            if message["event"] in TERMINAL_EVENTS:
                return
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pumping
        with contextlib.suppress(Exception):
            await layer.group_discard(group, channel)


def sse_event(event: StoredEvent) -> bytes:
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.event}\ndata: {data}\n\n".encode()


KEEPALIVE = b": keep-alive\n\n"


async def sse_stream(run_id: UUID | str, after: int = 0) -> AsyncIterator[bytes]:
    """The run's events as SSE bytes, until the terminal event."""
    yield b": stream of run " + str(run_id).encode() + b"\n\n"
    async for event in follow_run(run_id, after):
        yield KEEPALIVE if event is None else sse_event(event)
