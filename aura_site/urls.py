from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from aura_site import views
from aura_site.api import api

urlpatterns = [
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("accounts/", include("aura_site.accounts.urls")),
    path("runs/", include("generation.runs.urls")),
    path("scripts/", include("generation.scripts.urls")),
    path("", include("aura_site.projects.urls")),
]
