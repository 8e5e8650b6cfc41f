"""How loaded this process's event loops are, measured: the loop-lag probe.

Each loop that executes runs sleeps 20 ms over and over and keeps an average of how late it
wakes. Runs cut their text into chunk events less often while the loop runs late (fewer,
larger batches instead of falling behind), and a process whose loop lags beyond
``AURA_RUN_MAX_LOOP_LAG_MS`` refuses new runs up front (``saturated``) so that every run it
accepted finishes with its text intact.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from typing import Any

from django.conf import settings

CHUNK_INTERVAL_SECONDS = 0.05
MAX_CHUNK_INTERVAL_SECONDS = 0.25
_PROBE_SECONDS = 0.02


class LoopLoad:
    """How late this loop runs ready callbacks (an average of recent probes, and the worst
    of the last second)."""

    def __init__(self) -> None:
        self.lag = 0.0
        self.recent_max = 0.0
        self._window: list[float] = []

    async def probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + _PROBE_SECONDS
            await asyncio.sleep(_PROBE_SECONDS)
            late = max(0.0, loop.time() - expected)
            self.lag = 0.8 * self.lag + 0.2 * late
            self._window.append(late)
            if len(self._window) > 50:
                del self._window[0]
            self.recent_max = max(self._window)


_loads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLoad] = weakref.WeakKeyDictionary()
_probes: set[asyncio.Task[Any]] = set()


def ensure_probe(loop: asyncio.AbstractEventLoop) -> LoopLoad:
    load = _loads.get(loop)
    if load is None:
        load = LoopLoad()
        _loads[loop] = load
        task = loop.create_task(load.probe(), name="runs-load", context=contextvars.Context())
        _probes.add(task)
        task.add_done_callback(_probes.discard)
    return load


def chunk_interval() -> float:
    """How often a run cuts its text into chunk events: about every 50 ms, longer (up to
    250 ms) while the loop runs late."""
    load = _loads.get(asyncio.get_running_loop())
    if load is None:
        return CHUNK_INTERVAL_SECONDS
    return min(MAX_CHUNK_INTERVAL_SECONDS, CHUNK_INTERVAL_SECONDS + 4 * load.lag)


def max_lag_seconds() -> float:
    return float(getattr(settings, "AURA_RUN_MAX_LOOP_LAG_MS", 150)) / 1000


def worst_lag() -> float:
    """The largest average lag of this process's running loops (seconds; a loop that has
    stopped keeps its last figure, which no longer says anything); readable from any thread."""
    return max(
        (load.lag for loop, load in list(_loads.items()) if loop.is_running()),
        default=0.0,
    )


def saturated() -> bool:
    """Whether this process is too busy to take another run now."""
    return worst_lag() > max_lag_seconds()
