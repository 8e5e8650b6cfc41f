"""A video job: what to make, and the clip that came of it.

The job's work is one step-mode run (``VideoJob.run``) of kind ``video``, with one part per
provider attempt (``attempt-1``, ``attempt-2``, ...), each with its provider, model, the
provider's operation (its job id), progress, cost and why it ended. The job keeps the request
and, once an attempt's result passed the checks, the clip and its thumbnail in the ``videos``
storage, and the clip's facts. Its status follows the run: live while it runs (``status``
reads the run), then the run's ending (the kind's ``on_end``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from aura_site.projects.models import Project


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTED = "submitted", "Submitted"
    RUNNING = "running", "Rendering"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.RUNNING)


class AspectRatio(models.TextChoices):
    WIDE = "16:9", "16:9 landscape"
    TALL = "9:16", "9:16 portrait"
    SQUARE = "1:1", "1:1 square"


class VideoJob(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="video_jobs")
    run = models.OneToOneField(
        "runs.Run", on_delete=models.SET_NULL, related_name="video_job", null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    model = models.CharField(max_length=60, help_text="The catalogue name asked for.")
    duration_seconds = models.DecimalField(max_digits=6, decimal_places=2)
    aspect_ratio = models.CharField(
        max_length=5, choices=AspectRatio.choices, default=AspectRatio.WIDE
    )
    seed = models.BigIntegerField(null=True, blank=True)
    image = models.CharField(
        max_length=200, blank=True, help_text="The start image's file in the videos storage."
    )
    shot = models.JSONField(
        default=dict, blank=True, help_text="The roundtable shot it was made from, if any."
    )
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    provider = models.CharField(max_length=40, blank=True, help_text="The one that made it.")
    provider_model = models.CharField(max_length=120, blank=True)
    video = models.CharField(max_length=200, blank=True, help_text="The clip's file.")
    thumbnail = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    expected_cost = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    cost = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"video job {self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("videos:detail", args=[self.project_id, self.pk])

    @property
    def title(self) -> str:
        words = " ".join(self.prompt.split())
        return words if len(words) <= 70 else words[:69].rsplit(" ", 1)[0] + "…"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def video_url(self) -> str:
        return reverse("videos:clip", args=[self.project_id, self.pk]) if self.video else ""

    @property
    def download_url(self) -> str:
        return f"{self.video_url}?download=1" if self.video else ""

    @property
    def thumbnail_url(self) -> str:
        if not self.thumbnail:
            return ""
        return reverse("videos:thumbnail", args=[self.project_id, self.pk])

    @property
    def dom_id(self) -> str:
        return f"video-job-{self.pk}"
