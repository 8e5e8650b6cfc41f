from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from generation.scripts.models import (
    Persona,
    Script,
    ScriptTemplate,
    ScriptVersion,
    validate_sections,
)


class ScriptTemplateForm(forms.ModelForm):
    class Meta:
        model = ScriptTemplate
        fields = ["slug", "name", "description", "sections", "built_in"]
        help_texts = {
            "sections": (
                'A JSON list, e.g. [{"key": "hook", "title": "Hook", "share": 0.15, '
                '"guidance": "Grab attention"}, ...]. Shares are fractions of the running '
                "time and must sum to 1. Start with a section keyed hook and end with one "
                "keyed cta."
            )
        }

    def clean_sections(self) -> Any:
        value = self.cleaned_data["sections"]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValidationError(f"Not valid JSON: {exc}") from None
        validate_sections(value)
        return value


@admin.register(ScriptTemplate)
class ScriptTemplateAdmin(admin.ModelAdmin):
    form = ScriptTemplateForm
    list_display = ["name", "slug", "built_in", "section_titles", "updated_at"]
    list_filter = ["built_in"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="Sections")
    def section_titles(self, obj: ScriptTemplate) -> str:
        return " · ".join(
            f"{s.get('title')} {round(float(s.get('share', 0)) * 100)}%" for s in obj.sections
        )


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "audience", "updated_at"]
    search_fields = ["name", "project__name", "voice", "audience"]
    list_select_related = ["project"]
    raw_id_fields = ["project", "created_by"]


VERSION_FIELDS = (
    "number",
    "source",
    "complete",
    "provider",
    "model",
    "cost",
    "created_by",
    "created_at",
)


class ScriptVersionInline(admin.TabularInline):
    model = ScriptVersion
    fk_name = "script"
    extra = 0
    can_delete = False
    fields = VERSION_FIELDS
    readonly_fields = VERSION_FIELDS
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    list_display = ["title", "project", "status", "provider", "cost", "updated_at"]
    list_filter = ["status", "provider", "template"]
    search_fields = ["title", "topic", "project__name"]
    list_select_related = ["project"]
    raw_id_fields = ["project", "created_by", "persona", "current_version"]
    readonly_fields = ["cost", "last_run_id", "created_at", "updated_at"]
    inlines = [ScriptVersionInline]


@admin.register(ScriptVersion)
class ScriptVersionAdmin(admin.ModelAdmin):
    list_display = ["script", "number", "source", "complete", "provider", "cost", "created_at"]
    list_filter = ["source", "complete", "provider"]
    search_fields = ["script__title", "text"]
    raw_id_fields = ["script", "parent", "created_by"]
    readonly_fields = ["run_id", "cost", "input_tokens", "output_tokens", "created_at"]
