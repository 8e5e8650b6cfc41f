from __future__ import annotations

from typing import Any

from django.urls import path

from aura_site.projects import consumers

websocket_urlpatterns: list[Any] = [
    path("ws/projects/<int:project_id>/", consumers.ProjectConsumer.as_asgi()),
    path("ws/dashboard/", consumers.DashboardConsumer.as_asgi()),
]
