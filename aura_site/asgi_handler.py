"""Django's ASGI handler, with the synchronous parts of requests on a few shared threads.

Django runs each request's synchronous parts (its middleware, sync views) on a thread of the
request's own, started for it and kept until the request ends; a streamed response (a run's
Server-Sent Events) ends only when the stream does. Hundreds of runs starting at once thus meant
hundreds of threads, each with its stack (about 170 KB of memory apiece, measured), and idle
threads for every open stream. ``StudioASGIHandler`` gives each request one of
``REQUEST_THREADS`` long-lived threads instead (asgiref's ``ThreadSensitiveContext`` with a
caller-owned executor: all the synchronous code of one request still runs on one thread), holds
it for the middleware and the view only, and closes that thread's database connections when the
response is ready; streaming the response needs no thread.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections
from django.http import HttpRequest

REQUEST_THREADS = 8

_executors = [
    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{number}")
    for number in range(REQUEST_THREADS)
]
_turn = itertools.count()


class StudioASGIHandler(ASGIHandler):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def run_get_response(self, request: HttpRequest) -> Any:
        executor = _executors[next(_turn) % REQUEST_THREADS]
        async with ThreadSensitiveContext(executor=executor):
            try:
                return await super().run_get_response(request)
            finally:
                await sync_to_async(close_old_connections)()
