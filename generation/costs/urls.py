from __future__ import annotations

from django.urls import path

from generation.costs import views

app_name = "costs"

urlpatterns = [
    path("<int:notice_id>/dismiss/", views.dismiss, name="notice_dismiss"),
]
