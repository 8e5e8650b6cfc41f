"""Runs: the one unit of long work (a script draft, a roundtable session, a video job).

A run belongs to a project. Its events (``RunEvent``) form an ordered log, ``seq`` 1, 2, 3, ...
with no gaps, which every viewer replays; the run row holds the current state, with the text
checkpointed at least every second (``text_seq`` is the last event the stored text includes).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from aura_site.projects.models import Project


class RunKind(models.TextChoices):
    SCRIPT = "script", "Script"
    ROUNDTABLE = "roundtable", "Roundtable"
    VIDEO = "video", "Video"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
TERMINAL_STATUSES = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.INTERRUPTED,
)


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=20, choices=RunKind.choices, default=RunKind.SCRIPT)
    status = models.CharField(
        max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="runs"
    )
    input = models.JSONField(default=dict, blank=True, help_text="The validated request.")
    provider_requested = models.CharField(max_length=40, blank=True)
    provider = models.CharField(max_length=40, blank=True, help_text="Chosen, then final.")
    model = models.CharField(max_length=120, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)
    text_seq = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    usage_reported = models.BooleanField(default=False)
    cost = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    expected_tokens = models.PositiveIntegerField(default=0)
    expected_cost = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    result = models.JSONField(default=dict, blank=True, help_text="Extra fields of `done`.")
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=120, blank=True)
    cancel_requested = models.BooleanField(default=False)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
            models.Index(fields=["created_by", "status"], name="run_user_status"),
            models.Index(fields=["project", "-queued_at"], name="run_project_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("runs:detail", kwargs={"run_id": self.pk})

    @property
    def dom_id(self) -> str:
        """The stable id of the run's panel in pages and WebSocket fragments."""
        return f"run-{self.pk}"

    @property
    def group_name(self) -> str:
        """The channel-layer group that receives the run's events."""
        return group_name(self.pk)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return int((end - self.started_at).total_seconds() * 1000)

    @property
    def ttft_ms(self) -> int | None:
        if self.first_token_at is None or self.started_at is None:
            return None
        return int((self.first_token_at - self.started_at).total_seconds() * 1000)

    @property
    def tokens_per_second(self) -> float:
        if self.first_token_at is None or not self.output_tokens:
            return 0.0
        end = self.finished_at or timezone.now()
        seconds = (end - self.first_token_at).total_seconds()
        return round(self.output_tokens / seconds, 2) if seconds > 0 else 0.0

    @property
    def progress_percent(self) -> int:
        if not self.expected_tokens:
            return 0
        return min(100, round(100 * self.output_tokens / self.expected_tokens))


def group_name(run_id: object) -> str:
    return f"run.{run_id}"


def control_group_name(run_id: object) -> str:
    return f"run.{run_id}.control"


class RunEvent(models.Model):
    # Indexed by the unique (run, seq) constraint; a second index on run alone would only slow
    # the thousands of inserts a second of a busy process.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    event = models.CharField(max_length=30)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_run_event_seq")]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.seq} {self.event}"
