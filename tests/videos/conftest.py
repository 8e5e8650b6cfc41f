"""Fixtures for the video adapter tests: a real httpx client and an address nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        yield http


@pytest.fixture
def closed_url() -> str:
    """``http://127.0.0.1:<port>`` of a port that was free a moment ago and is closed now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 40
