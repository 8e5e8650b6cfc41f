"""Helpers for project and account tests: logged-in clients and WebSocket connections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """A test client logged in as ``user`` (``None``: anonymous)."""

    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def ws_headers() -> Callable[[Client | None], list[tuple[bytes, bytes]]]:
    """Handshake headers of a browser on the studio's origin, with the client's cookies."""

    def make(client: Client | None) -> list[tuple[bytes, bytes]]:
        headers = [(b"origin", b"http://127.0.0.1")]
        if client is not None:
            client.get("/accounts/")
            cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
            headers.append((b"cookie", cookie.encode()))
        return headers

    return make
