"""Spend pages: a project's, under the project like its other pages. Included at the site's
root (``aura_site/urls.py``)."""

from __future__ import annotations

from django.urls import path

from generation.spend import views

app_name = "spend"

urlpatterns = [
    path("projects/<int:project_id>/spend/", views.project_spend, name="project"),
    path("projects/<int:project_id>/spend/ledger.csv", views.project_spend_csv, name="project_csv"),
]
