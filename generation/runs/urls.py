from __future__ import annotations

from django.urls import path

from generation.runs import views

app_name = "runs"

urlpatterns = [
    path("<uuid:run_id>/", views.run_page, name="detail"),
    path("<uuid:run_id>/cancel/", views.run_cancel_page, name="cancel"),
]
