"""Staff screens: prices per token, per second or per clip (editable), the cost ledger
(read-only, with totals), spending budgets (with what was spent in the current period and what
remains) and provider credentials (keys write-only, shown masked, with a "Test key" action)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from aura_site.fetch import url_allowed
from generation.costs.budgets import budget_spent, usd
from generation.costs.credentials import credential_test, credentials_rotate
from generation.costs.models import Budget, CostRecord, Price, ProviderCredential
from generation.costs.services import ledger_total


def provider_choices(current: str = "", blank: str | None = None) -> list[Any]:
    """The provider choices of a staff form: the LLM registry's aliases and the video
    registry's, grouped (``settings.LLM_PROVIDERS``, ``settings.VIDEO_PROVIDERS``); ``blank``
    labels an empty choice; a stored ``current`` value no registry has any more stays
    choosable, marked, so an old row can still be edited."""
    from django.conf import settings

    llm = list(settings.LLM_PROVIDERS)
    video = [alias for alias in settings.VIDEO_PROVIDERS if alias not in llm]
    choices: list[Any] = [("", blank)] if blank is not None else []
    choices.append(("LLM providers", [(alias, alias) for alias in llm]))
    choices.append(("Video providers", [(alias, alias) for alias in video]))
    if current and current not in {*llm, *video}:
        choices.append((current, f"{current} (in no registry)"))
    return choices


def _provider_names() -> set[str]:
    from django.conf import settings

    return {*settings.LLM_PROVIDERS, *settings.VIDEO_PROVIDERS}


def provider_field_choose(form: forms.ModelForm, blank: str | None = None) -> None:
    """Make a staff form's ``provider`` a choice from the provider registries (``blank``:
    the label of choosing none)."""
    current = str(form.initial.get("provider") or getattr(form.instance, "provider", ""))
    form.fields["provider"] = forms.ChoiceField(
        choices=provider_choices(current, blank),
        required=blank is None,
        label="Provider",
        help_text=form.fields["provider"].help_text,
        error_messages={
            "invalid_choice": "Unknown provider '%(value)s'; known: "
            + ", ".join(sorted(_provider_names()))
            + "."
        },
    )


class ProviderFilter(admin.SimpleListFilter):
    """Filter by provider: every registry alias, and any other a stored row names."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        stored = set(
            model_admin.get_queryset(request)
            .exclude(provider="")
            .values_list("provider", flat=True)
            .distinct()
        )
        return [(alias, alias) for alias in sorted(_provider_names() | stored)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(provider=value) if value else queryset


class PriceForm(forms.ModelForm):
    class Meta:
        model = Price
        fields = (
            "provider",
            "model",
            "unit",
            "input_per_1k",
            "output_per_1k",
            "amount",
            "effective_from",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        provider_field_choose(self)


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    form = PriceForm
    list_display = (
        "provider",
        "model",
        "unit",
        "input_per_1k",
        "output_per_1k",
        "amount",
        "effective_from",
    )
    list_filter = (ProviderFilter, "unit")
    search_fields = ("provider", "model")
    ordering = ("provider", "model", "-effective_from")


@admin.register(CostRecord)
class CostRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "provider",
        "model",
        "unit",
        "input_tokens",
        "output_tokens",
        "quantity",
        "cost",
        "price_assumed",
        "reported",
        "outcome",
        "error_kind",
        "user",
        "project",
        "run_link",
        "part",
        "attempt",
        "correlation_id",
    )
    list_filter = (
        ProviderFilter,
        "model",
        "unit",
        "reported",
        "price_assumed",
        "outcome",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("run_id", "correlation_id", "part", "model", "provider")
    date_hierarchy = "created_at"
    list_select_related = ("user", "project")

    @admin.display(description="run", ordering="run_id")
    def run_link(self, record: CostRecord) -> str:
        """The run the record belongs to, linked to its admin page."""
        if not record.run_id:
            return "—"
        try:
            uuid.UUID(record.run_id)
            url = reverse("admin:runs_run_change", args=[record.run_id])
        except (ValueError, NoReverseMatch):
            return record.run_id
        return format_html('<a href="{}">{}</a>', url, record.run_id[:8])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            changelist = response.context_data.get("cl")
            if changelist is not None:
                queryset: QuerySet[CostRecord] = changelist.queryset
                totals = queryset.aggregate(
                    input_tokens=Sum("input_tokens"),
                    output_tokens=Sum("output_tokens"),
                    records=Count("id"),
                )
                totals["cost"] = ledger_total(queryset).quantize(Decimal("0.00000001"))
                response.context_data["totals"] = totals
                title = response.context_data.get("title", "")
                response.context_data["title"] = (
                    f"{title} · total {totals['cost']} USD over {totals['records']} records, "
                    f"{totals['input_tokens'] or 0} input and {totals['output_tokens'] or 0} "
                    "output tokens"
                )
        return response


class BudgetForm(forms.ModelForm):
    class Meta:
        model = Budget
        fields = ("name", "scope", "project", "user", "period", "limit_usd", "provider", "active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        provider_field_choose(self, "Every provider")

    def clean_provider(self) -> str:
        from django.conf import settings

        alias = str(self.cleaned_data.get("provider") or "").strip()
        aliases = {*settings.LLM_PROVIDERS, *settings.VIDEO_PROVIDERS}
        if alias and alias not in aliases:
            known = ", ".join(sorted(aliases))
            raise forms.ValidationError(f"Unknown provider {alias!r}; known: {known}.")
        return alias


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    form = BudgetForm
    list_display = (
        "budget_name",
        "scope",
        "covers",
        "period",
        "provider_shown",
        "limit_shown",
        "spent",
        "remaining",
        "active",
    )
    list_filter = ("scope", "period", "active", ProviderFilter)
    search_fields = ("name", "provider", "project__name", "user__username", "user__email")
    list_select_related = ("project", "user")
    autocomplete_fields = ("project", "user")
    readonly_fields = ("spent", "remaining", "created_at")
    ordering = ("scope", "period", "id")

    @staticmethod
    def _spent(budget: Budget) -> Decimal:
        """Spent in the current period, summed once per budget and request."""
        cached: Decimal | None = getattr(budget, "_spent_now", None)
        if cached is None:
            cached = budget_spent(budget)
            budget._spent_now = cached  # type: ignore[attr-defined]
        return cached

    @admin.display(description="budget")
    def budget_name(self, budget: Budget) -> str:
        return budget.label

    @admin.display(description="covers")
    def covers(self, budget: Budget) -> str:
        return budget.target

    @admin.display(description="provider", ordering="provider")
    def provider_shown(self, budget: Budget) -> str:
        return budget.provider or "all"

    @admin.display(description="limit (USD)", ordering="limit_usd")
    def limit_shown(self, budget: Budget) -> str:
        return usd(budget.limit_usd)

    @admin.display(description="spent this period (USD)")
    def spent(self, budget: Budget) -> str:
        if budget.pk is None:
            return "-"
        return usd(self._spent(budget))

    @admin.display(description="remaining (USD)")
    def remaining(self, budget: Budget) -> str:
        if budget.pk is None:
            return "-"
        left = budget.limit_usd - self._spent(budget)
        return usd(left) if left >= 0 else f"0.00 (over by {usd(-left)})"


class ProviderCredentialForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only. Leave blank to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = ProviderCredential
        fields = (
            "provider",
            "api_key",
            "clear_api_key",
            "base_url",
            "endpoint",
            "deployment",
            "api_version",
            "model",
            "enabled",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        provider_field_choose(self)

    def clean_provider(self) -> str:
        from django.conf import settings

        alias = str(self.cleaned_data["provider"]).strip()
        aliases = {*settings.LLM_PROVIDERS, *settings.VIDEO_PROVIDERS}
        if alias not in aliases:
            known = ", ".join(sorted(aliases))
            raise forms.ValidationError(f"Unknown provider {alias!r}; known: {known}.")
        return alias

    def clean(self) -> dict[str, Any]:
        """A staff member's base URL or endpoint is checked like every URL the studio fetches:
        http(s) only, and no private, loopback or link-local address unless the provider's
        own configured URL (its settings) already points there."""
        from django.conf import settings

        cleaned = super().clean() or {}
        alias = str(cleaned.get("provider") or "")
        config = {**settings.LLM_PROVIDERS, **settings.VIDEO_PROVIDERS}.get(alias) or {}
        options = config.get("OPTIONS") or {}
        configured = [
            str(options[name])
            for name in ("base_url", "endpoint")
            if isinstance(options, dict) and options.get(name)
        ]
        for field in ("base_url", "endpoint"):
            url = str(cleaned.get(field) or "")
            if url:
                refusal = url_allowed(url, allowed_private=configured)
                if refusal:
                    self.add_error(field, f"This address is refused: {refusal}.")
        return cleaned

    def save(self, commit: bool = True) -> ProviderCredential:
        credential = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            credential.api_key_encrypted = ""
            credential.key_hint = ""
        elif self.cleaned_data.get("api_key"):
            credential.set_api_key(self.cleaned_data["api_key"])
        if commit:
            credential.save()
        return credential


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    form = ProviderCredentialForm
    list_display = (
        "provider",
        "key_hint",
        "model",
        "base_url",
        "endpoint",
        "deployment",
        "enabled",
        "updated_at",
    )
    readonly_fields = ("key_hint", "updated_at")
    actions = ("test_key", "rotate_encryption")

    @admin.action(description="Test key (the cheapest real call the provider has)")
    def test_key(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        for credential in queryset:
            try:
                note = credential_test(credential.provider)
            except Exception as exc:
                self.message_user(request, f"{credential.provider}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{credential.provider}: {note}", messages.SUCCESS)

    @admin.action(description="Re-encrypt keys with the newest encryption key")
    def rotate_encryption(
        self, request: HttpRequest, queryset: QuerySet[ProviderCredential]
    ) -> None:
        count = credentials_rotate(queryset)
        self.message_user(request, f"Re-encrypted {count} stored key(s).", messages.SUCCESS)
