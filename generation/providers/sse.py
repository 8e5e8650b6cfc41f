"""Incremental decoders for the two stream framings the providers use.

``SSEDecoder`` follows the WHATWG event-stream rules (html.spec.whatwg.org, "Interpreting an
event stream"): CR, LF and CRLF line ends, also split across reads; comments; ``field:value``
with one optional space; multi-line ``data`` joined with ``\\n``; ``id`` kept across events;
a leading UTF-8 BOM stripped; an event without data is not dispatched; a pending event at the
end of the body is discarded. It works on bytes and decodes each complete line as UTF-8 itself
(a line never ends inside a multibyte character), so characters split across reads and a server
that mislabels its charset are both harmless.

``NDJSONDecoder`` splits on ``b"\\n"`` only (never on Unicode line separators).
"""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"


SSEEvent = tuple[str, str]
"""``(event type, data)``; the type is ``"message"`` when the event named none."""


class SSEDecoder:
    """Feed it the body's bytes as they arrive; ``last_event_id`` holds the ``id`` field."""

    __slots__ = (
        "_buffer",
        "_data",
        "_event",
        "_has_data",
        "_pending_cr",
        "_started",
        "idle",
        "last_event_id",
    )

    def __init__(self) -> None:
        self._buffer = b""
        self._started = False
        self._pending_cr = False
        self._event = ""
        self._data: list[bytes] = []
        self._has_data = False
        self.last_event_id = ""
        self.idle = False
        """True between events: nothing buffered, so a read holding exactly one whole event
        may be parsed by a caller's own fast path without the decoder."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Every event completed by ``chunk``, in order."""
        if (
            # The common case, one whole "data: ...\n\n" event per read, without the general
            # machinery (same result).
            self.idle
            and chunk[-2:] == b"\n\n"
            and chunk[:6] == b"data: "
            and chunk.find(b"\n", 6) == len(chunk) - 2
            and chunk.find(13) < 0
        ):
            return [("message", chunk[6:-2].decode("utf-8", "replace"))]
        if self._pending_cr and chunk:
            # The previous read ended in CR, already taken as a line end: its LF is not a
            # second one.
            self._pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._buffer + chunk if self._buffer else chunk
        if not self._started:
            if len(buffer) < 3 and _BOM.startswith(buffer):
                self._buffer = buffer
                return []
            self._started = True
            if buffer[:3] == _BOM:
                buffer = buffer[3:]
        if buffer.find(13) >= 0:
            self._pending_cr = buffer[-1:] == b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._has_data:
                    data = b"\n".join(self._data).decode("utf-8", "replace")
                    events.append((self._event or "message", data))
                    self._data = []
                    self._has_data = False
                self._event = ""
                continue
            if line[0] == 58:  # ":" starts a comment
                continue
            name, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
                self._has_data = True
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
            elif name == b"id" and b"\x00" not in value:
                self.last_event_id = value.decode("utf-8", "replace")
        self.idle = not (self._buffer or self._has_data or self._pending_cr or self._event)
        return events


class NDJSONDecoder:
    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """Complete non-empty lines ended by ``chunk``."""
        buffer = self._buffer + chunk if self._buffer else chunk
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        return [line for line in lines if line.strip()]

    def rest(self) -> bytes:
        """What is left after the body ended (a last line without its newline)."""
        rest, self._buffer = self._buffer, b""
        return rest
