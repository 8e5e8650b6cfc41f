"""Database calls from long-lived event loops (a Celery worker's run loop, Daphne's loop
outside a request).

``sync_to_async`` runs such calls on one long-lived thread whose connection nothing else
closes: request code has ``close_old_connections`` at each request's start and end, a run
loop has nothing. A connection cut by the server (PostgreSQL restarted) would stay broken on
that thread and fail every later call. ``db_sync_to_async`` checks the thread's connections
before each call and replaces one that no longer works.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections


def heal_connections() -> None:
    """Close this thread's connections that errored or no longer answer (outside a
    transaction); the next query opens a new one."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is None or connection.in_atomic_block:
            continue
        if connection.errors_occurred or not connection.is_usable():
            connection.close()


def db_sync_to_async[**P, T](func: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``sync_to_async(func)`` whose calls start with ``heal_connections``."""

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        heal_connections()
        return func(*args, **kwargs)

    wrapped: Any = sync_to_async(call)
    return wrapped
