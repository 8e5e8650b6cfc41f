from __future__ import annotations

from tests.projects.conftest import client_for, ws_headers

__all__ = ["client_for", "ws_headers"]
