"""A roundtable session: the brief, the world it is set in, and what the table produced.

The session's work is one run (``Session.run``) of kind ``roundtable``: a part per agent
(``director``, ``cinematographer``, ``editor``, ``colorist``, ``platform_expert``), then
``judge``, ``debate``, ``synthesis`` and ``shots``, each with its own text, provider, usage and
cost. The session keeps what the rest of the studio reads without the run's log: the judge's
pick, the debate's messages, the final prompt and the parsed shot list, and its status, which
follows the run's ending (the kind's ``on_end``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from aura_site.projects.models import Character, Location, Project, Series
from roundtable.norms import NORMS


class DebateMode(models.TextChoices):
    AUTO = "auto", "When two agents disagree"
    ALWAYS = "always", "Always"
    NEVER = "never", "Never"


class SessionStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"


class Session(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="roundtables")
    run = models.OneToOneField(
        "runs.Run", on_delete=models.CASCADE, related_name="roundtable", null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    brief = models.TextField()
    platform = models.CharField(max_length=40)
    duration_seconds = models.PositiveIntegerField()
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.SET_NULL)
    characters = models.ManyToManyField(Character, blank=True, related_name="+")
    locations = models.ManyToManyField(Location, blank=True, related_name="+")
    world = models.JSONField(
        default=dict, blank=True, help_text="The series, characters and locations as used."
    )
    provider = models.CharField(max_length=40, default="auto")
    agent_providers = models.JSONField(
        default=dict,
        blank=True,
        help_text="Agent key -> {provider, model} for the agents that differ.",
    )
    debate_mode = models.CharField(
        max_length=10, choices=DebateMode.choices, default=DebateMode.AUTO
    )
    status = models.CharField(
        max_length=20, choices=SessionStatus.choices, default=SessionStatus.RUNNING, db_index=True
    )
    judgement = models.JSONField(default=dict, blank=True)
    debate = models.JSONField(
        default=list, blank=True, help_text="The debate's messages: from, to, message."
    )
    synthesis = models.TextField(blank=True)
    shots_raw = models.TextField(blank=True)
    shots = models.JSONField(default=list, blank=True)
    shots_parsed = models.BooleanField(default=False)
    shots_note = models.CharField(max_length=300, blank=True)
    expected_cost = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    expected_cost_high = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    cost = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="roundtable_recent")]

    def __str__(self) -> str:
        return f"Roundtable {self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("roundtable:detail", args=[self.project_id, self.pk])

    @property
    def title(self) -> str:
        text = " ".join(self.brief.split())
        return text if len(text) <= 80 else text[:79].rsplit(" ", 1)[0] + "…"

    @property
    def is_active(self) -> bool:
        return self.status == SessionStatus.RUNNING

    @property
    def platform_label(self) -> str:
        norms = NORMS.get(self.platform)
        return norms.label if norms else self.platform


class ChairKind(models.TextChoices):
    NOTE = "note", "Note"
    PIN = "pin", "Pin"
    VETO = "veto", "Veto"


class ChairEntry(models.Model):
    """What a person at the table said to it: a note for every later prompt, or a point of an
    agent's analysis pinned (the synthesis must keep it) or vetoed (it must not). ``emitted``
    once its event (``chair_note``, ``chair_pin``, ``chair_veto``) is in the run's log."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="chair_entries")
    kind = models.CharField(max_length=10, choices=ChairKind.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.CharField(max_length=40, blank=True)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    emitted = models.BooleanField(default=False)

    class Meta:
        ordering = ["session", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on roundtable {self.session_id}"


class ChairQuestion(models.Model):
    """An agent's question to the chair: the session waits for the answer (or the expiry,
    then takes the agent's default) before the synthesis."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="questions")
    request_id = models.UUIDField(unique=True)
    agent = models.CharField(max_length=40)
    question = models.TextField()
    options = models.JSONField(default=list)
    default = models.CharField(max_length=300)
    expires_at = models.DateTimeField()
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    timed_out = models.BooleanField(default=False)
    response_emitted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session", "created_at", "id"]

    def __str__(self) -> str:
        return f"question {self.request_id} of roundtable {self.session_id}"

    @property
    def is_open(self) -> bool:
        return self.answered_at is None and not self.timed_out


class VersionStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class PartVersion(models.Model):
    """One version of a part of a session (an agent's analysis, the debate, the synthesis, the
    shot list): the first from the session's run, each later one from a re-run (a run of its
    own, ``run``), with who asked, the provider, what it cost, and (for the synthesis) the
    versions of the analyses and the debate it was built on."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="versions")
    part = models.CharField(max_length=40)
    number = models.PositiveIntegerField()
    run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=VersionStatus.choices, default=VersionStatus.SUCCEEDED
    )
    text = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=120, blank=True)
    cost = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    based_on = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session", "part", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "part", "number"], name="unique_session_part_version"
            )
        ]

    def __str__(self) -> str:
        return f"roundtable {self.session_id} {self.part} v{self.number}"
