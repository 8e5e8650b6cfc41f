"""Prices, the cost ledger and the provider credentials staff enter in the admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from generation.costs import crypto


class Price(models.Model):
    """USD per 1,000 tokens for a provider's model, from ``effective_from`` on.

    ``model`` ``*`` is the provider's price for any model without its own row. A model name that
    starts with a priced name (``gpt-4o-mini-2024-07-18``) takes the longest such price.
    """

    WILDCARD = "*"

    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, help_text="Model name, or * for any other model.")
    input_per_1k = models.DecimalField(max_digits=12, decimal_places=6)
    output_per_1k = models.DecimalField(max_digits=12, decimal_places=6)
    effective_from = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("provider", "model", "-effective_from")
        constraints = [
            models.UniqueConstraint(
                fields=("provider", "model", "effective_from"), name="costs_price_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(input_per_1k__gte=0) & models.Q(output_per_1k__gte=0),
                name="costs_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}: {self.input_per_1k} in, {self.output_per_1k} out"


class AppendOnlyError(Exception):
    pass


class CostRecord(models.Model):
    """One provider attempt's tokens and cost. Written once, never changed."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    reported = models.BooleanField(
        default=False, help_text="True: the provider's own counts. False: estimated."
    )
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    attempt = models.PositiveIntegerField(default=1)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    error_kind = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} {self.cost} USD ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("cost records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("cost records are append-only")


class ProviderCredential(models.Model):
    """Settings staff enter for a provider; they take precedence over the environment.

    The key is stored encrypted (``generation.costs.crypto``) and never shown back: only
    ``key_hint`` (``sk-…abcd``) is.
    """

    provider = models.CharField(max_length=40, unique=True, help_text="Provider alias.")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    key_hint = models.CharField(max_length=40, blank=True, editable=False)
    base_url = models.URLField(
        blank=True, help_text="Base URL (OpenAI, Anthropic, Gemini, Ollama)."
    )
    endpoint = models.URLField(blank=True, help_text="Azure OpenAI resource endpoint.")
    deployment = models.CharField(max_length=120, blank=True, help_text="Azure deployment name.")
    api_version = models.CharField(max_length=40, blank=True, help_text="Azure api-version.")
    model = models.CharField(max_length=120, blank=True, help_text="Default model.")
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("provider",)

    def __str__(self) -> str:
        return f"{self.provider} credentials"

    def set_api_key(self, key: str) -> None:
        from generation.providers.transport import mask_secret

        key = key.strip()
        self.api_key_encrypted = crypto.encrypt(key)
        self.key_hint = mask_secret(key)

    def api_key(self) -> str:
        return crypto.decrypt(self.api_key_encrypted)

    def options(self) -> dict[str, str]:
        """The OPTIONS this row overrides (only fields that are filled in)."""
        if not self.enabled:
            return {}
        values = self.options_without_key()
        if self.api_key_encrypted:
            values["api_key"] = self.api_key()
        return values

    def options_without_key(self) -> dict[str, str]:
        values = {
            "base_url": self.base_url.rstrip("/"),
            "endpoint": self.endpoint.rstrip("/"),
            "deployment": self.deployment,
            "api_version": self.api_version,
            "model": self.model,
        }
        return {name: value for name, value in values.items() if value}
