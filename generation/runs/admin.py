from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from generation.runs.models import Run, RunEvent


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "status", "provider", "model", "cost", "queued_at")
    list_filter = ("status", "kind", "provider")
    search_fields = ("id", "project__name", "created_by__username", "correlation_id")
    readonly_fields = [f.name for f in Run._meta.fields]
    date_hierarchy = "queued_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ("run", "seq", "event", "created_at")
    list_filter = ("event",)
    readonly_fields = ("run", "seq", "event", "data", "created_at")
    search_fields = ("run__id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
