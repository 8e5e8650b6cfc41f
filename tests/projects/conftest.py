"""Helpers for project and account tests: logged-in clients and WebSocket connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

INTEGRATION_MARKER = (
    "integration: database and channel-layer tests that tests/test_services.py also runs on "
    "PostgreSQL and Redis"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", INTEGRATION_MARKER)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Accounts made by tests hash their passwords cheaply; the hasher is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
async def _close_worker_thread_connections() -> AsyncIterator[None]:
    """Close the database connection of asgiref's worker thread after each test.

    In async tests, ``sync_to_async`` and ``database_sync_to_async`` run in one long-lived worker
    thread whose connection would otherwise stay open (and keep PostgreSQL from dropping the test
    database at the end of the run).
    """
    yield
    await sync_to_async(connections.close_all)()


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
