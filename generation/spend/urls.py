"""Spend pages: a project's (under the project, like its other pages) and the admin's across
projects. Included at the site's root before the admin (``aura_site/urls.py``)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from generation.spend import admin_views, views

app_name = "spend"

urlpatterns = [
    path("projects/<int:project_id>/spend/", views.project_spend, name="project"),
    path("projects/<int:project_id>/spend/ledger.csv", views.project_spend_csv, name="project_csv"),
    path("admin/spend/", admin.site.admin_view(admin_views.spend_admin), name="admin"),
    path(
        "admin/spend/ledger.csv",
        admin.site.admin_view(admin_views.spend_admin_csv),
        name="admin_csv",
    ),
]
