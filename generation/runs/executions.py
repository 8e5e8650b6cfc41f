"""The runs this process holds: launched and not ended, executing or waiting for a slot.

The heartbeat keeps every held run alive and the reaper never touches one, so a run this
process has in hand is never taken for the run of a dead process, however busy it is.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class Execution:
    """A run being executed by this process."""

    run_id: UUID
    task: asyncio.Task[Any]
    loop: asyncio.AbstractEventLoop
    cancel_requested: bool = False
    finishing: bool = False
    lost: bool = False
    control: set[str] = field(default_factory=set)

    def request_cancel(self) -> bool:
        """Cancel the executing task (closing every upstream response); harmless twice."""
        if self.finishing or self.cancel_requested:
            return False
        self.cancel_requested = True
        self.loop.call_soon_threadsafe(self.task.cancel)
        return True

    def abandon(self) -> None:
        """Stop without a terminal event: the run was ended elsewhere (reaped)."""
        if self.finishing or self.lost:
            return
        self.lost = True
        self.loop.call_soon_threadsafe(self.task.cancel)


_executions: dict[UUID, Execution] = {}
_held: dict[UUID, asyncio.Task[Any]] = {}


def _uuid(run_id: object) -> UUID | None:
    try:
        return run_id if isinstance(run_id, UUID) else UUID(str(run_id))
    except ValueError:
        return None


def register(execution: Execution) -> None:
    _executions[execution.run_id] = execution


def unregister(execution: Execution) -> None:
    if _executions.get(execution.run_id) is execution:
        del _executions[execution.run_id]


def local_execution(run_id: object) -> Execution | None:
    key = _uuid(run_id)
    return _executions.get(key) if key is not None else None


def executions() -> dict[UUID, Execution]:
    return _executions


def hold(run_id: object, task: asyncio.Task[Any]) -> None:
    """Note a run task of this process, until it ends."""
    key = _uuid(run_id)
    if key is None:
        return
    _held[key] = task

    def release(done: asyncio.Task[Any]) -> None:
        if _held.get(key) is done:
            del _held[key]

    task.add_done_callback(release)


_leases: dict[UUID, str] = {}


def lease_hold(run_id: UUID, owner: str) -> None:
    """Note that this process executes a step of ``run_id`` under the lease of ``owner``, so
    that the heartbeat renews it."""
    _leases[run_id] = owner


def lease_release(run_id: UUID, owner: str) -> None:
    if _leases.get(run_id) == owner:
        del _leases[run_id]


def held_leases() -> dict[UUID, str]:
    """Step leases this process holds: run id -> lease owner."""
    return dict(_leases)


def held_run_ids() -> set[UUID]:
    """Runs this process executes or is about to."""
    return {*_held, *_executions}


def is_held(run_id: object) -> bool:
    key = _uuid(run_id)
    return key is not None and (key in _held or key in _executions)


def held_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in _held.values() if not task.done()]


def local_load() -> int:
    """Runs this process executes or is about to (for AURA_MAX_CONCURRENT_STREAMS)."""
    return max(len(_held), len(_executions))
