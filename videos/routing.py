from __future__ import annotations

from typing import Any

from django.urls import path

from videos.consumers import VideoListConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/projects/<int:project_id>/videos/", VideoListConsumer.as_asgi()),
]
