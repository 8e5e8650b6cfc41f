from __future__ import annotations

from typing import Any

from django.urls import path

from generation.scripts.consumers import ScriptListConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/projects/<int:project_id>/scripts/", ScriptListConsumer.as_asgi()),
]
