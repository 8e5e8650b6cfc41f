from __future__ import annotations

import pytest

from tests.projects.conftest import (
    INTEGRATION_MARKER,
    _close_worker_thread_connections,
    _fast_password_hashing,
    client_for,
    ws_headers,
)

__all__ = ["_close_worker_thread_connections", "_fast_password_hashing", "client_for", "ws_headers"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", INTEGRATION_MARKER)
