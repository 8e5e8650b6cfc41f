from __future__ import annotations

from django.contrib import admin
from django.urls import path

from aura_site import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
]
