"""Script templates, personas, scripts and their versions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from aura_site.projects.models import Project

SHARE_TOLERANCE = 0.001


def validate_sections(value: Any) -> None:
    """A template's sections: a non-empty list of {key, title, share, guidance}, shares summing
    to 1 (within 0.001), keys unique."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Sections must be a non-empty list.")
    keys: set[str] = set()
    total = 0.0
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise ValidationError(f"Section {index} must be an object.")
        unknown = set(item) - {"key", "title", "share", "guidance"}
        if unknown:
            raise ValidationError(
                f"Section {index} has unknown fields: {', '.join(sorted(unknown))}."
            )
        key = str(item.get("key") or "").strip()
        title = str(item.get("title") or "").strip()
        if not key or not title:
            raise ValidationError(f"Section {index} needs a key and a title.")
        if key in keys:
            raise ValidationError(f"Section key {key!r} is used twice.")
        keys.add(key)
        share = item.get("share")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ValidationError(f"Section {index} ({title}) needs a share between 0 and 1.")
        total += float(share)
        if not isinstance(item.get("guidance", ""), str):
            raise ValidationError(f"Section {index} ({title}): guidance must be text.")
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise ValidationError(f"Section shares must sum to 1 (they sum to {total:.3f}).")


class ScriptTemplate(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    sections = models.JSONField(
        default=list,
        validators=[validate_sections],
        help_text='A list of {"key", "title", "share", "guidance"}; the shares sum to 1.',
    )
    built_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-built_in", "name"]

    def __str__(self) -> str:
        return self.name

    def as_brief(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "sections": [
                {
                    "key": str(s["key"]),
                    "title": str(s["title"]),
                    "share": float(s["share"]),
                    "guidance": str(s.get("guidance", "")),
                }
                for s in self.sections
            ],
        }


class Persona(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="personas")
    name = models.CharField(max_length=120)
    voice = models.TextField(blank=True, help_text="How the presenter sounds.")
    audience = models.CharField(max_length=200, blank=True)
    do = models.JSONField(default=list, blank=True)
    dont = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_persona_name")
        ]

    def __str__(self) -> str:
        return self.name

    def as_brief(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "voice": self.voice,
            "audience": self.audience,
            "do": list(self.do),
            "dont": list(self.dont),
        }


class ScriptStatus(models.TextChoices):
    GENERATING = "generating", "Generating"
    READY = "ready", "Ready"
    NEEDS_REVIEW = "needs_review", "Needs review"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"


class Script(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scripts")
    title = models.CharField(max_length=200)
    topic = models.TextField()
    brief = models.JSONField(default=dict, help_text="The brief the versions were written from.")
    template = models.ForeignKey(
        ScriptTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="scripts"
    )
    persona = models.ForeignKey(
        Persona, null=True, blank=True, on_delete=models.SET_NULL, related_name="scripts"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    current_version = models.ForeignKey(
        "ScriptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=ScriptStatus.choices, default=ScriptStatus.GENERATING
    )
    last_run_id = models.UUIDField(null=True, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["project", "-updated_at"], name="script_project_recent")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("scripts:detail", args=[self.project_id, self.pk])

    @property
    def words_per_minute(self) -> int:
        return int(self.brief.get("words_per_minute") or 150)

    @property
    def duration_seconds(self) -> int:
        return int(self.brief.get("duration_seconds") or 60)


class VersionSource(models.TextChoices):
    RUN = "run", "Generated"
    REVISION = "revision", "Revision"
    EDIT = "edit", "Hand edit"
    CONTINUATION = "continuation", "Continuation"


class ScriptVersion(models.Model):
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    source = models.CharField(max_length=20, choices=VersionSource.choices)
    complete = models.BooleanField(
        default=True, help_text="False when the run ended before the text was finished."
    )
    run_id = models.UUIDField(null=True, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=120, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    usage_reported = models.BooleanField(default=False)
    validation = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=300, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["script", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["script", "number"], name="unique_script_version")
        ]

    def __str__(self) -> str:
        return f"{self.script} v{self.number}"

    @property
    def is_template_output(self) -> bool:
        return self.provider == "rulebased"
