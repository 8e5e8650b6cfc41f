"""Database reads of the live paths (viewers connecting, followers filling gaps) on a few
threads of their own that keep their connections.

``database_sync_to_async`` opens and closes a connection around every call (right for request
code with ``CONN_MAX_AGE=0``); for SQLite each open also sets its pragmas and registers Django's
SQL functions, which at hundreds of viewers cost more than the reads themselves. A connection
that fails is closed, and the call is tried once more on a new one; while the database stays
unreachable (PostgreSQL restarting) the call is retried with a growing pause for up to
``RETRY_SECONDS``, so a follower waits out the outage instead of failing its viewer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError, connection

_executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="runs-db")
RETRY_SECONDS = 30.0


def _call[T](func: Callable[..., T], *args: Any) -> T:
    try:
        return func(*args)
    except (InterfaceError, OperationalError):
        connection.close()
        return func(*args)


async def db_call[T](func: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETRY_SECONDS
    pause = 0.1
    while True:
        try:
            return await loop.run_in_executor(_executor, _call, func, *args)
        except (InterfaceError, OperationalError):
            if loop.time() + pause > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)
