from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from aura_site.projects.models import (
    Activity,
    Character,
    Location,
    Membership,
    Project,
    Series,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "project"
    extra = 0
    autocomplete_fields = ("user",)
    readonly_fields = ("added_by", "created_at")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "member_count", "created_at", "updated_at")
    search_fields = ("name", "description", "memberships__user__username")
    list_filter = ("created_at", "updated_at")
    date_hierarchy = "created_at"
    readonly_fields = ("created_by", "created_at", "updated_at")
    list_select_related = ("created_by",)
    inlines = (MembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj: Project) -> int:
        return int(getattr(obj, "_member_count", 0))


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "role", "added_by", "created_at")
    list_filter = ("role", "created_at")
    search_fields = ("user__username", "user__email", "project__name")
    list_select_related = ("user", "project", "added_by")
    autocomplete_fields = ("user", "project")
    readonly_fields = ("added_by", "created_at")


class WorldItemAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "updated_at"]
    list_filter = ("updated_at", "created_at")
    search_fields = ["name", "description", "project__name"]
    list_select_related = ("project",)
    autocomplete_fields = ("project",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(Series)
class SeriesAdmin(WorldItemAdmin):
    pass


@admin.register(Character)
class CharacterAdmin(WorldItemAdmin):
    search_fields = ["name", "description", "look", "voice", "project__name"]


@admin.register(Location)
class LocationAdmin(WorldItemAdmin):
    list_display = ["name", "project", "mood", "updated_at"]
    search_fields = ["name", "description", "mood", "project__name"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("created_at", "project", "actor", "verb")
    list_filter = ("created_at",)
    search_fields = ("verb", "actor__username", "project__name")
    list_select_related = ("project", "actor")
    date_hierarchy = "created_at"
    readonly_fields = ("project", "actor", "verb", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
