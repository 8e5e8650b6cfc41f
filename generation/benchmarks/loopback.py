"""A small HTTP/1.1 server on 127.0.0.1 for fakes of provider APIs (tests and benchmarks).

It speaks real HTTP over a real socket, so clients under test go through their whole stack
(httpx, h11, TCP). It runs its own asyncio loop in a background thread and needs nothing but the
standard library (no Django), so it can also run in a separate process.

    async def handler(request: LoopbackRequest, response: LoopbackResponse) -> None:
        await response.start(200, {"content-type": "text/event-stream"})
        await response.write(b"data: hello\\n\\n")
        await response.end()

    with LoopbackServer(handler) as server:
        server.base_url          # "http://127.0.0.1:<free port>"
        server.requests          # every LoopbackRequest received, in order
        server.disconnects       # clients that closed before their response ended
        server.wait_for_disconnects(1, timeout=5)   # -> bool

Bodies are sent with chunked transfer encoding, one chunk per ``write()``; ``end()`` sends the
terminating chunk, ``abort()`` closes the connection without it (a truncated body). Every
response carries ``Connection: close``. A client that goes away while its response is still
open (written or waited on) is counted once in ``disconnects``, and ``response.disconnected``
(an ``asyncio.Event``) is set so a handler can hang until then with
``await response.wait_disconnected()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


@dataclass(slots=True)
class LoopbackRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    path: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


class ClientGone(ConnectionError):
    """The client closed the connection while the response was being written."""


class LoopbackResponse:
    def __init__(self, writer: asyncio.StreamWriter, server: LoopbackServer) -> None:
        self._writer = writer
        self._server = server
        self.started = False
        self.finished = False
        self.disconnected = asyncio.Event()
        self._counted = False

    def _note_disconnect(self) -> None:
        if not self.disconnected.is_set():
            self.disconnected.set()
        if not self.finished and not self._counted:
            self._counted = True
            self._server._count_disconnect()

    async def start(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        lines.append("transfer-encoding: chunked")
        lines.append("connection: close")
        self.started = True
        await self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def write(self, data: bytes) -> None:
        if data:
            await self._send(b"%x\r\n%s\r\n" % (len(data), data))

    async def write_many(self, chunks: list[bytes]) -> None:
        """Several chunks in one socket write (each still its own HTTP chunk)."""
        await self._send(b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c))

    async def end(self) -> None:
        await self._send(b"0\r\n\r\n")
        self.finished = True

    async def abort(self) -> None:
        """Close the connection without the terminating chunk."""
        self.finished = True
        self._writer.close()

    async def send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        merged = {"content-type": "application/json", **(headers or {})}
        await self.start(status, merged)
        await self.write(json.dumps(payload).encode("utf-8"))
        await self.end()

    async def wait_disconnected(self) -> None:
        await self.disconnected.wait()

    async def _send(self, data: bytes) -> None:
        if self.disconnected.is_set() or self._writer.is_closing():
            self._note_disconnect()
            raise ClientGone("client went away")
        self._writer.write(data)
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._note_disconnect()
            raise ClientGone("client went away") from exc


Handler = Callable[[LoopbackRequest, LoopbackResponse], Awaitable[None]]


class LoopbackServer:
    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self.requests: list[LoopbackRequest] = []
        self._disconnects = 0
        self._lock = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def disconnects(self) -> int:
        with self._lock:
            return self._disconnects

    @property
    def requests_seen(self) -> int:
        with self._lock:
            return len(self.requests)

    def _count_disconnect(self) -> None:
        with self._lock:
            self._disconnects += 1
            self._lock.notify_all()

    def wait_for_disconnects(self, count: int = 1, timeout: float = 10.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._disconnects >= count, timeout)

    async def await_disconnects(self, count: int = 1, within: float = 10.0) -> bool:
        """Like ``wait_for_disconnects`` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.wait_for_disconnects, count, within)

    def start(self) -> LoopbackServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._on_connection, self._host, self._port)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="loopback-http", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        # A connection accepted just before the close has its handler task scheduled but not
        # yet started: let such tasks start, then cancel them with the others.
        for _ in range(3):
            await asyncio.sleep(0)
            tasks = list(self._tasks)
            if not tasks:
                break
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
        request = LoopbackRequest(method=method, target=target, headers=headers, body=body)
        with self._lock:
            self.requests.append(request)
        response = LoopbackResponse(writer, self)

        async def watch() -> None:
            with contextlib.suppress(Exception):
                while await reader.read(65536):
                    pass
            response._note_disconnect()

        watcher = asyncio.create_task(watch())
        try:
            await self._handler(request, response)
            if not response.finished and not response.disconnected.is_set():
                if not response.started:
                    await response.send_json(500, {"error": "the fake handler sent nothing"})
                else:
                    await response.end()
            if response.finished and not writer.is_closing():
                with contextlib.suppress(Exception):
                    await writer.drain()
        except ClientGone:
            pass
        except asyncio.CancelledError:
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
