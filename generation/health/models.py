"""What the health figures are made of: per-minute buckets of provider calls, and the last
listing check of each provider."""

from __future__ import annotations

from django.db import models

LATENCY_BOUNDS_MS = (100, 250, 500, 1000, 2000, 4000, 8000, 15000, 30000, 60000, 120000)
"""Upper bounds of the latency histogram's bins (milliseconds); one more bin holds the rest."""


def _count() -> models.PositiveIntegerField:
    return models.PositiveIntegerField(default=0, editable=False)


class Family(models.TextChoices):
    LLM = "llm", "Language model"
    VIDEO = "video", "Video"


class ProviderMinute(models.Model):
    """The calls one provider answered (or failed) in one minute, for one kind of call
    (``generate`` for an LLM; ``submit`` or ``poll`` for a video provider).

    Every call adds to its minute's row with one atomic ``UPDATE`` (``F()`` increments), so the
    write volume is one small update per call and the row count is at most one per provider,
    call kind and minute with traffic. ``failures`` are calls that say something about the
    provider's health; ``rejected`` are calls refused for the request itself (bad request,
    content filter). The latency histograms (``total_le_<ms>``: whole call; ``ttft_le_<ms>``:
    to the first text of a stream) count successful calls only.
    """

    family = models.CharField(max_length=8, choices=Family.choices)
    provider = models.CharField(max_length=40)
    call = models.CharField(max_length=12)
    minute = models.DateTimeField()
    calls = _count()
    failures = _count()
    rejected = _count()
    last_ok_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_kind = models.CharField(max_length=40, blank=True, editable=False)
    last_error_message = models.CharField(max_length=500, blank=True, editable=False)
    total_le_100 = _count()
    total_le_250 = _count()
    total_le_500 = _count()
    total_le_1000 = _count()
    total_le_2000 = _count()
    total_le_4000 = _count()
    total_le_8000 = _count()
    total_le_15000 = _count()
    total_le_30000 = _count()
    total_le_60000 = _count()
    total_le_120000 = _count()
    total_over = _count()
    ttft_le_100 = _count()
    ttft_le_250 = _count()
    ttft_le_500 = _count()
    ttft_le_1000 = _count()
    ttft_le_2000 = _count()
    ttft_le_4000 = _count()
    ttft_le_8000 = _count()
    ttft_le_15000 = _count()
    ttft_le_30000 = _count()
    ttft_le_60000 = _count()
    ttft_le_120000 = _count()
    ttft_over = _count()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("family", "provider", "call", "minute"), name="health_minute_unique"
            ),
        ]
        indexes = [models.Index(fields=("minute",), name="health_minute_time")]

    def __str__(self) -> str:
        return f"{self.family}/{self.provider} {self.call} {self.minute:%Y-%m-%d %H:%M}"


class ProviderCheck(models.Model):
    """The last free listing call made to a provider (``started_at`` is claimed atomically, so
    that every process together makes at most one per interval)."""

    family = models.CharField(max_length=8, choices=Family.choices)
    provider = models.CharField(max_length=40)
    started_at = models.DateTimeField()
    checked_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    error_kind = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("family", "provider"), name="health_check_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.family}/{self.provider} check at {self.started_at:%Y-%m-%d %H:%M:%S}"
