from __future__ import annotations

from django.urls import path

from generation.health import views

app_name = "health"

urlpatterns = [
    path("health/", views.provider_health_page, name="providers"),
]
