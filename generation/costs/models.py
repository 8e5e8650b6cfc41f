"""Prices, the cost ledger, spending budgets and the provider credentials staff enter in the
admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from aura_site.money import format_usd
from generation.costs import crypto, log_masking


class Unit(models.TextChoices):
    """What a price is per, and what a cost record counts."""

    TOKEN = "token", "Tokens (per 1K, input / output)"
    SECOND = "second", "Seconds of video"
    CLIP = "clip", "Clips"


class Price(models.Model):
    """A provider's price for a model, in USD, from ``effective_from`` on: per 1,000 input and
    output tokens (``unit`` token: ``input_per_1k``, ``output_per_1k``), or per second of video
    or per clip (``amount``). A row has the fields of its unit and no others.

    ``model`` ``*`` is the provider's price for any model without its own row. A model name that
    starts with a priced name (``gpt-4o-mini-2024-07-18``) takes the longest such price.
    """

    WILDCARD = "*"
    Unit = Unit
    UNIT_WORDS: dict[str, str] = {
        Unit.TOKEN: "per-token",
        Unit.SECOND: "per-second",
        Unit.CLIP: "per-clip",
    }

    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, help_text="Model name, or * for any other model.")
    unit = models.CharField(max_length=10, choices=Unit.choices, default=Unit.TOKEN)
    input_per_1k = models.DecimalField(
        "input (USD per 1K tokens)",
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Per-token prices only.",
    )
    output_per_1k = models.DecimalField(
        "output (USD per 1K tokens)",
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Per-token prices only.",
    )
    amount = models.DecimalField(
        "amount (USD)",
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="USD per second or per clip; per-second and per-clip prices only.",
    )
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
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="costs_price_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        unit="token",
                        input_per_1k__isnull=False,
                        output_per_1k__isnull=False,
                        amount__isnull=True,
                    )
                    | models.Q(
                        unit__in=("second", "clip"),
                        amount__isnull=False,
                        input_per_1k__isnull=True,
                        output_per_1k__isnull=True,
                    )
                ),
                name="costs_price_fields_match_unit",
                violation_error_message=(
                    "A per-token price has its input and output prices and no amount; a "
                    "per-second or per-clip price has its amount and no token prices."
                ),
            ),
        ]

    def __str__(self) -> str:
        where = f"{self.provider}/{self.model}"
        if self.unit == Unit.TOKEN:
            return f"{where}: {self.input_per_1k} in, {self.output_per_1k} out"
        return f"{where}: {self.amount} per {self.unit}"

    def clean(self) -> None:
        if self.unit not in Unit.values:
            return  # the field's choices report it
        words = self.UNIT_WORDS[self.unit]
        errors: dict[str, str] = {}
        if self.unit == Unit.TOKEN:
            for field, side in (("input_per_1k", "input"), ("output_per_1k", "output")):
                if getattr(self, field) is None:
                    errors[field] = f"A {words} price needs its {side} price (USD per 1K tokens)."
            if self.amount is not None:
                errors["amount"] = (
                    f"A {words} price has no amount; leave it empty, or change the unit."
                )
        else:
            if self.amount is None:
                errors["amount"] = f"A {words} price needs its amount (USD per {self.unit})."
            for field in ("input_per_1k", "output_per_1k"):
                if getattr(self, field) is not None:
                    errors[field] = (
                        f"A {words} price has no token prices; leave it empty, or change the unit."
                    )
        if errors:
            raise ValidationError(errors)


class AppendOnlyError(Exception):
    pass


class CostRecord(models.Model):
    """One provider attempt's cost, for its run and the part of the run it belonged to: the
    tokens it used (``unit`` token), or the seconds of video or clips it was billed for
    (``quantity``). Written once, never changed."""

    Unit = Unit

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
    price_assumed = models.BooleanField(
        default=False,
        help_text=(
            "True: the model has no price of its own; its cost is at the provider's default "
            "(*) price."
        ),
    )
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    part = models.CharField(
        max_length=64,
        blank=True,
        help_text="The run part the call belonged to (main, director, synthesis, a video shot).",
    )
    unit = models.CharField(max_length=10, choices=Unit.choices, default=Unit.TOKEN)
    quantity = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Seconds of video or clips billed; empty for a token record.",
    )
    attempt = models.PositiveIntegerField(default=1)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    error_kind = models.CharField(max_length=40, blank=True)
    correlation_id = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The run's correlation id, as quoted to people beside an error.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("project", "created_at"), name="costs_record_project_time"),
            models.Index(fields=("user", "created_at"), name="costs_record_user_time"),
            models.Index(fields=("provider", "created_at"), name="costs_record_provider_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(unit="token", quantity__isnull=True)
                    | models.Q(unit__in=("second", "clip"), quantity__isnull=False, quantity__gte=0)
                ),
                name="costs_record_quantity_matches_unit",
                violation_error_message=(
                    "A token record has no quantity; a per-second or per-clip record has its "
                    "quantity, never negative."
                ),
            ),
        ]

    def __str__(self) -> str:
        part = f" [{self.part}]" if self.part else ""
        return f"{self.provider}/{self.model}{part} {self.cost} USD ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("cost records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("cost records are append-only")


class BudgetQuerySet(models.QuerySet["Budget"]):
    def covering(self, *, user_id: Any, project_id: Any, provider: str) -> BudgetQuerySet:
        """The active budgets that cover a call by ``user_id`` in ``project_id`` to
        ``provider``."""
        covers = models.Q(scope=Budget.Scope.GLOBAL)
        if project_id is not None:
            covers |= models.Q(scope=Budget.Scope.PROJECT, project_id=project_id)
        if user_id is not None:
            covers |= models.Q(scope=Budget.Scope.USER, user_id=user_id)
        return self.filter(covers, models.Q(provider="") | models.Q(provider=provider), active=True)

    def lock(self) -> list[int]:
        """Lock these budget rows until the transaction ends, in one order (their ids) so that
        two transactions never wait on each other; their ids."""
        return list(
            self.select_for_update(of=("self",)).order_by("id").values_list("id", flat=True)
        )


class Budget(models.Model):
    """A spending limit in USD over a UTC calendar day, a UTC calendar month or all time.

    It applies to every call (``scope`` global), to the calls of one project or of one user,
    and to one provider's calls only when ``provider`` is set. Spend is the sum of the
    ``CostRecord`` costs it covers; ``generation.costs.budgets.budget_check`` refuses a call
    whose expected cost would take that sum over ``limit_usd``.
    """

    class Scope(models.TextChoices):
        GLOBAL = "global", "Global"
        PROJECT = "project", "Project"
        USER = "user", "User"

    class Period(models.TextChoices):
        DAY = "day", "Per day (UTC)"
        MONTH = "month", "Per month (UTC)"
        TOTAL = "total", "In total"

    PERIOD_WORDS = {"day": "per UTC day", "month": "per UTC month", "total": "in total"}

    name = models.CharField(
        max_length=120, blank=True, help_text="Shown in messages and lists; optional."
    )
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.GLOBAL)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Required for a project budget; empty otherwise.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Required for a user budget; empty otherwise.",
    )
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.MONTH)
    limit_usd = models.DecimalField(
        "limit (USD)",
        max_digits=14,
        decimal_places=8,
        validators=[MinValueValidator(Decimal(0))],
    )
    provider = models.CharField(
        max_length=40, blank=True, help_text="Only this provider's calls; blank for every provider."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = BudgetQuerySet.as_manager()

    class Meta:
        ordering = ("scope", "period", "id")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(scope="global", project__isnull=True, user__isnull=True)
                    | models.Q(scope="project", project__isnull=False, user__isnull=True)
                    | models.Q(scope="user", user__isnull=False, project__isnull=True)
                ),
                name="costs_budget_scope_matches",
                violation_error_message=(
                    "A global budget has no project and no user, a project budget exactly a "
                    "project, a user budget exactly a user."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(limit_usd__gte=0), name="costs_budget_limit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The name staff gave it, else what it covers (``project “Launch film”, per UTC day``)."""
        if self.name:
            return self.name
        parts = [self.target, self.PERIOD_WORDS.get(self.period, self.period)]
        if self.provider:
            parts.append(f"{self.provider} only")
        return ", ".join(parts)

    @property
    def target(self) -> str:
        if self.scope == self.Scope.PROJECT and self.project_id is not None:
            return f"project “{self.project}”"
        if self.scope == self.Scope.USER and self.user_id is not None:
            return f"user “{self.user}”"
        return "everyone"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.scope == self.Scope.PROJECT:
            if self.project_id is None:
                errors["project"] = "A project budget needs its project."
            if self.user_id is not None:
                errors["user"] = "A project budget has no user; make a user budget instead."
        elif self.scope == self.Scope.USER:
            if self.user_id is None:
                errors["user"] = "A user budget needs its user."
            if self.project_id is not None:
                errors["project"] = "A user budget has no project; make a project budget instead."
        else:
            if self.project_id is not None:
                errors["project"] = "A global budget covers every project; leave this empty."
            if self.user_id is not None:
                errors["user"] = "A global budget covers every user; leave this empty."
        self.provider = self.provider.strip()
        if errors:
            raise ValidationError(errors)


class BudgetHold(models.Model):
    """Money set aside for one call under way: its upper bound, counted against every budget
    that covers the call (with the ledger's spend) from before it is dispatched until its cost
    record settles it (``generation.costs.budgets``). A hold left by a process that died ends
    at ``expires_at``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=8)
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    part = models.CharField(max_length=64, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="costs_hold_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} holds {self.amount} USD"


class BudgetAlert(models.Model):
    """A budget's spend crossed ``threshold`` percent of its limit in the period ``period_key``
    (``2026-12-02``, ``2026-12`` or ``total``): sent once, to the budget's people."""

    THRESHOLDS = (50, 75, 90, 100)

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_key = models.CharField(max_length=10)
    threshold = models.PositiveSmallIntegerField()
    spent = models.DecimalField(max_digits=14, decimal_places=8)
    limit_usd = models.DecimalField(max_digits=14, decimal_places=8)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("budget", "period_key", "threshold"), name="costs_alert_once_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.budget.label}: {self.threshold}% ({self.period_key})"

    @property
    def period_words(self) -> str:
        if self.period_key == "total":
            return "in total"
        if len(self.period_key) == len("2026-12"):
            return f"month {self.period_key}, UTC"
        return f"day {self.period_key}, UTC"

    @property
    def text(self) -> str:
        """The alert for people: what is spent of what, and what follows."""
        label = self.budget.label
        if self.threshold >= 100:
            head = f"Budget “{label}” is spent"
            tail = (
                "Paid calls it covers are refused until the period ends or staff raise the limit."
            )
        else:
            left = max(Decimal(0), self.limit_usd - self.spent)
            head = f"Budget “{label}” is {self.threshold} % spent"
            tail = f"{format_usd(left)} left."
        return (
            f"{head}: {format_usd(self.spent)} of {format_usd(self.limit_usd)} "
            f"({self.period_words}). {tail}"
        )


class BudgetNotice(models.Model):
    """One person's in-app notice of a budget alert, until they dismiss it."""

    alert = models.ForeignKey(BudgetAlert, on_delete=models.CASCADE, related_name="notices")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="budget_notices"
    )
    emailed = models.BooleanField(default=False)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-alert__created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("alert", "user"), name="costs_notice_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.alert} → {self.user}"


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
        key = key.strip()
        log_masking.remember([key])
        self.api_key_encrypted = crypto.encrypt(key)
        self.key_hint = crypto.mask_secret(key)

    def api_key(self) -> str:
        key = crypto.decrypt(self.api_key_encrypted)
        log_masking.remember([key])
        return key

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
