from __future__ import annotations

from typing import Any

from django.urls import path

from generation.runs.consumers import RunConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/runs/<uuid:run_id>/", RunConsumer.as_asgi()),
]
