"""Static files through WhiteNoise, without making every request synchronous.

WhiteNoise's middleware is synchronous only, so Django would run it, and adapt the rest of the
chain around it, on a thread for every request, static or not, API calls and event streams
included. ``StaticFilesMiddleware`` is the same middleware, asynchronous: a path that is not a
static file passes straight on; a static file is served by WhiteNoise on a worker thread (it
reads the file system).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        super().__init__(get_response)
        if not iscoroutinefunction(get_response):
            raise TypeError("StaticFilesMiddleware needs an asynchronous middleware chain.")
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> Any:
        path = request.path_info
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(path)
        else:
            static_file = self.files.get(path)
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(self._respond, thread_sensitive=False)(static_file, request)

    def _respond(self, static_file: Any, request: HttpRequest) -> HttpResponse:
        """WhiteNoise's response (status, caching and range headers), read whole on this
        thread: the studio's static files are small, and an ASGI server would otherwise drain
        the synchronous file iterator itself."""
        served = self.serve(static_file, request)
        try:
            body = b"".join(served.streaming_content)
        finally:
            served.close()
        response = HttpResponse(body, status=served.status_code)
        del response["Content-Type"]
        for name, value in served.items():
            response[name] = value
        return response
