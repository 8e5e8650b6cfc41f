"""Runs: the one unit of long work (a script draft, a roundtable session, a video job).

A run belongs to a project and is of a registered kind (``generation.runs.kinds``). It holds one
or more named parts (``RunPart``: ``main`` for a script; an agent, the debate, the synthesis
for a roundtable; a provider attempt for a video job), each with its own status, provider,
text, usage, cost, progress and result; the run keeps the totals. Its events (``RunEvent``,
each tagged with its part or none) form an ordered log, ``seq`` 1, 2, 3, ... with no gaps,
which every viewer replays; run and parts hold the current state, their text checkpointed at
least every second (``text_seq`` is the last event the stored text includes).

A run of a kind in step mode also carries ``wake_at`` (when its next step is due), ``step``
(how many steps were stored), ``state`` (the kind's own state between steps) and, while a step
executes, a lease (``lease_owner`` until ``lease_until``).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from aura_site.projects.models import Project
from generation.runs.kinds import kind_label


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUBMITTED = "submitted", "Submitted"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUBMITTED)
TERMINAL_STATUSES = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.INTERRUPTED,
)


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=40, help_text="A registered run kind.")
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
    cost_ceiling = models.DecimalField(
        max_digits=16,
        decimal_places=8,
        default=Decimal("0"),
        help_text="The quote's upper bound: the most the run's chains may spend.",
    )
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
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    wake_at = models.DateTimeField(
        null=True, blank=True, help_text="Step mode: when the next step is due."
    )
    step = models.PositiveIntegerField(default=0, help_text="Step mode: steps stored so far.")
    state = models.JSONField(
        default=dict, blank=True, help_text="Step mode: the kind's own state between steps."
    )
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
            models.Index(fields=["status", "wake_at"], name="run_status_wake"),
            models.Index(fields=["created_by", "status"], name="run_user_status"),
            models.Index(fields=["project", "-queued_at"], name="run_project_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("runs:detail", kwargs={"run_id": self.pk})

    def get_kind_display(self) -> str:
        return kind_label(self.kind)

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

    @property
    def notice(self) -> dict[str, Any] | None:
        """The notice a kind put in the run's result when the run did not go as chosen
        (``{code, codes, message}``), or None."""
        notice = self.result.get("notice") if isinstance(self.result, dict) else None
        return notice if isinstance(notice, dict) and notice.get("message") else None


def group_name(run_id: object) -> str:
    return f"run.{run_id}"


def control_group_name(run_id: object) -> str:
    return f"run.{run_id}.control"


class PartStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    RUNNING = "running", "Running"
    SUBMITTED = "submitted", "Submitted"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"
    TIMED_OUT = "timed_out", "Timed out"


ACTIVE_PART_STATUSES = (PartStatus.WAITING, PartStatus.RUNNING, PartStatus.SUBMITTED)


class RunPart(models.Model):
    """A named lane of a run: its own status, provider, attempts, text, usage, cost, progress,
    external operation and result. Its text is checkpointed like the run's (``text_seq``)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="parts")
    key = models.CharField(max_length=40)
    label = models.CharField(max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=20, choices=PartStatus.choices, default=PartStatus.WAITING)
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=120, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)
    text_seq = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    usage_reported = models.BooleanField(default=False)
    cost = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    progress = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Percent done, where the work reports it."
    )
    operation = models.JSONField(
        default=dict, blank=True, help_text="An external job (its id and what polling needs)."
    )
    result = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "position", "key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_run_part_key")]

    def __str__(self) -> str:
        return f"{self.run_id} part {self.key} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_PART_STATUSES

    @property
    def ttft_ms(self) -> int | None:
        if self.first_token_at is None or self.started_at is None:
            return None
        return int((self.first_token_at - self.started_at).total_seconds() * 1000)

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return int((end - self.started_at).total_seconds() * 1000)


class RunEvent(models.Model):
    # Indexed by the unique (run, seq) constraint; a second index on run alone would only slow
    # the thousands of inserts a second of a busy process.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    event = models.CharField(max_length=30)
    part = models.CharField(
        max_length=40, blank=True, default="", help_text="The part's key; empty for the run."
    )
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_run_event_seq")]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.seq} {self.event}"
