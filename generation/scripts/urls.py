"""The script pages. Mounted under their project at ``projects/<int:project_id>/scripts/``
(``aura_site/urls.py``), so every view here receives ``project_id``."""

from __future__ import annotations

from django.urls import path

from generation.scripts import views

app_name = "scripts"

urlpatterns = [
    path("", views.script_list, name="list"),
    path("new/", views.script_new, name="new"),
    path("guidance/", views.script_guidance, name="guidance"),
    path("personas/", views.persona_list, name="personas"),
    path("personas/new/", views.persona_form, name="persona_new"),
    path("personas/<int:persona_id>/edit/", views.persona_form, name="persona_edit"),
    path("personas/<int:persona_id>/delete/", views.persona_delete, name="persona_delete"),
    path("<int:script_id>/", views.script_detail, name="detail"),
    path("<int:script_id>/regenerate/", views.script_regenerate, name="regenerate"),
    path("<int:script_id>/continue/<int:number>/", views.script_continue, name="continue"),
    path("<int:script_id>/edit/", views.script_edit, name="edit"),
    path("<int:script_id>/compare/", views.script_compare, name="compare"),
    path(
        "<int:script_id>/export/<int:number>.<str:fmt>",
        views.script_export_view,
        name="export",
    ),
]
