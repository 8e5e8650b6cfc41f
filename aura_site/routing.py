"""Every WebSocket route of the studio."""

from __future__ import annotations

from typing import Any

from aura_site.projects.routing import websocket_urlpatterns as project_ws
from generation.runs.routing import websocket_urlpatterns as run_ws
from generation.scripts.routing import websocket_urlpatterns as script_ws
from videos.routing import websocket_urlpatterns as video_ws

websocket_urlpatterns: list[Any] = [*project_ws, *run_ws, *script_ws, *video_ws]
