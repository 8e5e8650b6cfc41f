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

from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str
    id: str


class SSEDecoder:
    __slots__ = ("_buffer", "_data", "_event", "_has_data", "_last_id", "_pending_cr", "_started")

    def __init__(self) -> None:
        self._buffer = b""
        self._started = False
        self._pending_cr = False
        self._event = ""
        self._data: list[bytes] = []
        self._has_data = False
        self._last_id = ""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Every event completed by ``chunk``, in order."""
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
        if b"\r" in buffer:
            self._pending_cr = buffer[-1:] == b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._has_data:
                    data = b"\n".join(self._data).decode("utf-8", "replace")
                    events.append(SSEEvent(self._event or "message", data, self._last_id))
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
                self._last_id = value.decode("utf-8", "replace")
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
