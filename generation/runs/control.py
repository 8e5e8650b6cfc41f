"""Cancel requests between processes.

With a shared channel layer, a process that executes a run joins the run's control group
``run.<id>.control`` with one channel per loop; a cancel asked in another process is sent
there and reaches the execution, which cancels its task. With the in-memory layer every run
executes in the process that asks, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any
from uuid import UUID

from channels.layers import InMemoryChannelLayer, get_channel_layer

from generation.runs import executions
from generation.runs.models import control_group_name

logger = logging.getLogger(__name__)

CONTROL_MESSAGE_TYPE = "run.control"


def shared_layer() -> Any | None:
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


class _Control:
    """This loop's channel for cancel requests from other processes."""

    def __init__(self) -> None:
        self.channel = ""
        self.ready = asyncio.Event()


_controls: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Control] = (
    weakref.WeakKeyDictionary()
)


def control_of_loop() -> _Control:
    return _controls.setdefault(asyncio.get_running_loop(), _Control())


async def subscribe(run_id: UUID) -> None:
    layer = shared_layer()
    control = _controls.get(asyncio.get_running_loop())
    if layer is None or control is None:
        return
    if not control.ready.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(control.ready.wait(), timeout=2)
    if control.channel:
        await layer.group_add(control_group_name(run_id), control.channel)


async def unsubscribe(run_id: UUID) -> None:
    layer = shared_layer()
    control = _controls.get(asyncio.get_running_loop())
    if layer is None or control is None or not control.channel:
        return
    try:
        await layer.group_discard(control_group_name(run_id), control.channel)
    except Exception:
        logger.warning("leaving the control group of run %s failed", run_id, exc_info=True)


async def send(run_id: object, action: str) -> None:
    layer = shared_layer()
    if layer is not None:
        await layer.group_send(
            control_group_name(run_id),
            {"type": CONTROL_MESSAGE_TYPE, "run_id": str(run_id), "action": action},
        )


async def listen() -> None:
    """Receive this loop's control messages until cancelled."""
    layer = shared_layer()
    control = control_of_loop()
    if layer is None:
        return
    control.channel = await layer.new_channel("runs-control")
    control.ready.set()
    while True:
        try:
            message = await layer.receive(control.channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("receiving run control messages failed", exc_info=True)
            await asyncio.sleep(1)
            continue
        if message.get("type") != CONTROL_MESSAGE_TYPE:
            continue
        execution = executions.local_execution(message.get("run_id"))
        if execution is not None and message.get("action") == "cancel":
            execution.request_cancel()
