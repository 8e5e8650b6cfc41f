from __future__ import annotations

from django.urls import path, register_converter

from aura_site.projects import views
from aura_site.projects.forms import WORLD_KINDS


class WorldKindConverter:
    regex = "|".join(WORLD_KINDS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        if value not in WORLD_KINDS:
            raise ValueError(value)
        return value


register_converter(WorldKindConverter, "world")

app_name = "projects"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("projects/new/", views.project_create, name="create"),
    path("projects/<int:project_id>/", views.project_detail, name="detail"),
    path("projects/<int:project_id>/edit/", views.project_edit, name="edit"),
    path("projects/<int:project_id>/delete/", views.project_delete, name="delete"),
    path("projects/<int:project_id>/leave/", views.project_leave, name="leave"),
    path("projects/<int:project_id>/members/", views.member_add, name="member_add"),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("projects/<int:project_id>/<world:kind>/", views.world_list, name="world_list"),
    path("projects/<int:project_id>/<world:kind>/new/", views.world_create, name="world_create"),
    path(
        "projects/<int:project_id>/<world:kind>/<int:item_id>/edit/",
        views.world_edit,
        name="world_edit",
    ),
    path(
        "projects/<int:project_id>/<world:kind>/<int:item_id>/delete/",
        views.world_delete,
        name="world_delete",
    ),
]
