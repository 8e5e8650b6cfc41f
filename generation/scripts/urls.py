from __future__ import annotations

from django.urls import path

from generation.scripts import views

app_name = "scripts"

urlpatterns = [
    path("<int:project_id>/", views.script_list, name="list"),
    path("<int:project_id>/new/", views.script_new, name="new"),
    path("<int:project_id>/guidance/", views.script_guidance, name="guidance"),
    path("<int:project_id>/personas/", views.persona_list, name="personas"),
    path("<int:project_id>/personas/new/", views.persona_form, name="persona_new"),
    path(
        "<int:project_id>/personas/<int:persona_id>/edit/",
        views.persona_form,
        name="persona_edit",
    ),
    path(
        "<int:project_id>/personas/<int:persona_id>/delete/",
        views.persona_delete,
        name="persona_delete",
    ),
    path("<int:project_id>/<int:script_id>/", views.script_detail, name="detail"),
    path(
        "<int:project_id>/<int:script_id>/regenerate/",
        views.script_regenerate,
        name="regenerate",
    ),
    path(
        "<int:project_id>/<int:script_id>/continue/<int:number>/",
        views.script_continue,
        name="continue",
    ),
    path("<int:project_id>/<int:script_id>/edit/", views.script_edit, name="edit"),
    path("<int:project_id>/<int:script_id>/compare/", views.script_compare, name="compare"),
    path(
        "<int:project_id>/<int:script_id>/export/<int:number>.<str:fmt>",
        views.script_export_view,
        name="export",
    ),
]
