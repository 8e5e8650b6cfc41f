"""The SSE and NDJSON decoders against the WHATWG rules and the cases httpx-sse gets wrong."""

from __future__ import annotations

import email.utils

import pytest

from generation.providers.sse import NDJSONDecoder, SSEDecoder
from generation.providers.transport import parse_duration, parse_retry_after


def decode(*chunks: bytes) -> list[tuple[str, str, str]]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return [(name, data, decoder.last_event_id) for name, data in events]


def test_comments_and_multi_line_data():
    assert decode(b": keepalive\r\ndata: a\r\ndata: b\r\n\r\n") == [("message", "a\nb", "")]


def test_cr_only_line_ends():
    assert decode(b"data: x\rdata:y\r\r") == [("message", "x\ny", "")]


def test_crlf_split_across_reads():
    assert decode(b"data: a\r", b"\n\r", b"\n") == [("message", "a", "")]


def test_cr_at_end_of_read_then_data():
    assert decode(b"data: a\r", b"\r", b"data: b\n\n") == [
        ("message", "a", ""),
        ("message", "b", ""),
    ]


def test_leading_bom_is_stripped_even_when_split():
    assert decode(b"\xef\xbb", b"\xbfdata: first\n\n") == [("message", "first", "")]
    assert decode(b"\xef\xbb\xbfdata: first\n\ndata: second\n\n")[0] == ("message", "first", "")


def test_only_one_bom_is_stripped():
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []


def test_multibyte_characters_split_across_reads():
    raw = "data: é€😀\n\n".encode()
    chunks = [raw[i : i + 1] for i in range(len(raw))]
    assert decode(*chunks) == [("message", "é€😀", "")]


def test_event_without_data_is_not_dispatched():
    assert decode(b"event: ping\n\n", b"event: x\ndata: 1\n\n") == [("x", "1", "")]


def test_pending_event_at_end_is_not_dispatched():
    assert decode(b"data: 1\n\ndata: [DONE]\n") == [("message", "1", "")]


def test_field_without_space_and_without_colon():
    assert decode(b"data:x\ndata\n\n") == [("message", "x\n", "")]


def test_only_one_leading_space_is_removed():
    assert decode(b"data:  two\n\n") == [("message", " two", "")]


def test_id_persists_and_nul_ids_are_ignored():
    assert decode(b"id: 7\ndata: a\n\ndata: b\n\nid: 8\x00\ndata: c\n\n") == [
        ("message", "a", "7"),
        ("message", "b", "7"),
        ("message", "c", "7"),
    ]


def test_unicode_line_separators_are_not_line_ends():
    assert decode("data: a\u2028b\u0085c\n\n".encode()) == [("message", "a\u2028b\u0085c", "")]


def test_ndjson_splits_on_newline_only():
    decoder = NDJSONDecoder()
    assert decoder.feed('{"a":"x\u2028y"}\n{"b"'.encode()) == ['{"a":"x\u2028y"}'.encode()]
    assert decoder.feed(b":1}\n\n") == [b'{"b":1}']
    assert decoder.feed(b'{"c":2}') == []
    assert decoder.rest() == b'{"c":2}'


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "999999"}, 3600.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
        ({}, None),
    ],
)
def test_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_retry_after_http_date():
    now = 1_767_225_600.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now) == 30.0


def test_retry_delay_duration():
    assert parse_duration("17s") == 17.0
    assert parse_duration("0.5s") == 0.5
    assert parse_duration("5m") is None
