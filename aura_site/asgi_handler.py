"""Django's ASGI handler, with the synchronous parts of requests on a few shared threads.

Django runs each request's synchronous parts (its middleware, sync views) on a thread of the
request's own, started for it and kept until the request ends; a streamed response (a run's
Server-Sent Events) ends only when the stream does. Hundreds of runs starting at once thus meant
hundreds of threads, each with its stack (about 170 KB of memory apiece, measured), and idle
threads for every open stream. ``StudioASGIHandler`` gives each request one of
``REQUEST_THREADS`` long-lived threads instead (asgiref's ``ThreadSensitiveContext`` with a
caller-owned executor: all the synchronous code of one request still runs on one thread),
holds it for the middleware and the view only, and closes that thread's database connections
when the response is ready; streaming the response needs no thread. A request gets a thread that
is not stuck in a long call (a slow synchronous view holds back only the requests that were
already sharing its thread), with the fewest requests in hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections
from django.http import HttpRequest

REQUEST_THREADS = 16
STUCK_SECONDS = 0.05
"""A thread whose current call has run this long is passed over for new requests."""


class _RequestThread(ThreadPoolExecutor):
    """One thread, which knows since when its current call has been running."""

    def __init__(self, number: int) -> None:
        super().__init__(max_workers=1, thread_name_prefix=f"request-{number}")
        self.running_since: float | None = None
        self.in_hand = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def call() -> Any:
            self.running_since = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                self.running_since = None

        return super().submit(call)

    def load(self, now: float) -> tuple[bool, int]:
        since = self.running_since
        return (since is not None and now - since > STUCK_SECONDS, self.in_hand)


_threads = [_RequestThread(number) for number in range(REQUEST_THREADS)]


class StudioASGIHandler(ASGIHandler):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def run_get_response(self, request: HttpRequest) -> Any:
        now = time.monotonic()
        thread = min(_threads, key=lambda candidate: candidate.load(now))
        thread.in_hand += 1
        try:
            async with ThreadSensitiveContext(executor=thread):
                try:
                    return await super().run_get_response(request)
                finally:
                    await sync_to_async(close_old_connections)()
        finally:
            thread.in_hand -= 1
