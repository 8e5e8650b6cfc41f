"""Live fan-out of run events to their viewers in every process.

With a shared channel layer (channels_redis: several server processes and workers), events go
through the run's group ``run.<id>``, and each subscriber reads them from a channel of its own.
With Channels' stock in-memory layer, which only ever reaches its own process, events go through
this process's hub instead: the same delivery without the in-memory layer's per-message scan of
every channel and its copies, which made it the bottleneck at a few hundred concurrent viewers.

Delivery is at most once in both cases: a subscriber that falls behind may lose messages (a
channel fills up, a message expires), which is why every message carries its ``seq`` and
subscribers fill gaps from the stored log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

from generation.runs.models import group_name

logger = logging.getLogger(__name__)

EVENT_MESSAGE_TYPE = "run.event"
_QUEUE_LIMIT = 2000
_RETRY_MAX_SECONDS = 2.0


def _shared_layer() -> Any | None:
    """The channel layer when it carries run events (anything but the stock in-memory layer)."""
    layer = get_channel_layer()
    if layer is None or type(layer) is InMemoryChannelLayer:
        return None
    return layer


class _Hub:
    """In-process subscribers of each run, on whichever loop they live."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]]] = {}

    def publish(self, run_id: str, message: dict[str, Any]) -> None:
        current = _running_loop()
        for loop, queue in list(self.subscribers.get(run_id, ())):
            if loop is current:
                _offer(queue, message)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_offer, queue, message)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _offer(queue: asyncio.Queue[Any], message: dict[str, Any]) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(message)


_hub = _Hub()


async def publish(messages: list[dict[str, Any]]) -> None:
    """Send event messages (each with ``run_id`` and ``seq``), in order within each run."""
    layer = _shared_layer()
    if layer is None:
        for message in messages:
            _hub.publish(message["run_id"], message)
        return
    by_run: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        by_run.setdefault(message["run_id"], []).append(message)

    async def send(run_messages: list[dict[str, Any]]) -> None:
        for message in run_messages:
            try:
                await layer.group_send(group_name(message["run_id"]), message)
            except Exception:
                logger.exception(
                    "publishing event %s of run %s failed", message["seq"], message["run_id"]
                )

    await asyncio.gather(*(send(run_messages) for run_messages in by_run.values()))


@contextlib.asynccontextmanager
async def subscribe(run_id: object) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """A queue that receives the run's live event messages while the block runs."""
    key = str(run_id)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
    layer = _shared_layer()
    if layer is None:
        entry = (asyncio.get_running_loop(), queue)
        _hub.subscribers.setdefault(key, set()).add(entry)
        try:
            yield queue
        finally:
            subscribers = _hub.subscribers.get(key)
            if subscribers is not None:
                subscribers.discard(entry)
                if not subscribers:
                    _hub.subscribers.pop(key, None)
        return
    group = group_name(key)
    channel = await layer.new_channel("runs-follow")
    joined = False
    with contextlib.suppress(Exception):
        await layer.group_add(group, channel)
        joined = True

    async def pump() -> None:
        """Move the run's messages into the queue; while the layer is unreachable, retry, and
        join the group again (a restarted Redis has forgotten it). Messages lost meanwhile are
        read from the stored log by the subscriber."""
        nonlocal joined
        failures = 0
        while True:
            try:
                if not joined:
                    await layer.group_add(group, channel)
                    joined = True
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                if failures == 0:
                    logger.warning("following run %s live failed; retrying", key, exc_info=True)
                failures += 1
                joined = False
                await asyncio.sleep(min(_RETRY_MAX_SECONDS, 0.1 * 2 ** min(failures, 6)))
                continue
            failures = 0
            if message.get("type") == EVENT_MESSAGE_TYPE:
                _offer(queue, message)

    pumping = asyncio.get_running_loop().create_task(pump(), name=f"follow-{key}")
    try:
        yield queue
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pumping
        with contextlib.suppress(Exception):
            await layer.group_discard(group, channel)
