"""Prices per 1K tokens, per second of video and per clip: the arithmetic, the lookup, what a row
of each unit must hold (model, database, admin) and the migration that brought units in."""

from __future__ import annotations

import datetime
from decimal import Decimal
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as installed_apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from generation.costs.budgets import BudgetExceeded, budget_check_call, call_expected_cost
from generation.costs.models import Budget, Price
from generation.costs.services import (
    PriceQuote,
    cost_for,
    cost_for_quantity,
    cost_from_quote,
    expected_cost,
    price_for,
)

SEED = "generation.costs.migrations.0002_seed_prices"
EARLIER = datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC)


def price(unit: str, amount: str, *, provider: str = "veo", model: str = "veo-3", **more: Any):
    return Price.objects.create(
        provider=provider, model=model, unit=unit, amount=Decimal(amount), **more
    )


def quote(unit: str, amount: str) -> PriceQuote:
    return PriceQuote("veo", "veo-3", Decimal(0), Decimal(0), True, unit, Decimal(amount))


# Arithmetic ------------------------------------------------------------------------------------


def test_per_second_and_per_clip_costs_are_exact_decimals():
    eight_seconds = cost_for_quantity(quote("second", "0.75"), Decimal("8"))
    assert eight_seconds == Decimal("6.00000000")
    assert isinstance(eight_seconds, Decimal)
    assert eight_seconds.as_tuple().exponent == -8
    assert cost_for_quantity(quote("second", "0.4"), Decimal("5.5")) == Decimal("2.2")
    assert cost_for_quantity(quote("clip", "1.25"), Decimal(3)) == Decimal("3.75")
    assert cost_for_quantity(quote("clip", "1.25"), Decimal(0)) == 0
    # 0.1 s three times is 0.30000000000000004 s in floats; in Decimal it is 0.3 s.
    assert cost_for_quantity(quote("second", "0.1"), Decimal("0.1") * 3) == Decimal("0.03")


def test_quantities_round_half_up_to_the_ledger_s_eight_places():
    tiny = quote("second", "0.000001")
    assert cost_for_quantity(tiny, Decimal("0.005")) == Decimal("0.00000001")  # half: up
    assert cost_for_quantity(tiny, Decimal("0.0049")) == Decimal("0")
    assert cost_for_quantity(tiny, Decimal("0.015")) == Decimal("0.00000002")  # half-even: 0.02
    assert cost_for_quantity(tiny, Decimal("0.025")) == Decimal("0.00000003")  # half-even: 0.02
    assert cost_for_quantity(quote("second", "0.333333"), Decimal("0.5")) == Decimal("0.16666650")
    # The same rounding as token costs: 1 token at 0.000005 per 1K is 0.000000005 USD.
    per_token = PriceQuote("x", "y", Decimal("0.000005"), Decimal(0), True)
    assert cost_from_quote(per_token, 1, 0) == Decimal("0.00000001")


def test_a_quantity_is_a_non_negative_decimal():
    with pytest.raises(TypeError, match="a quantity is a Decimal, not float"):
        cost_for_quantity(quote("second", "0.75"), 8.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="never negative"):
        cost_for_quantity(quote("second", "0.75"), Decimal("-1"))


# Lookup ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_price_for_returns_the_row_s_unit_and_amount():
    price("second", "0.75", provider="gemini", model="veo-3", effective_from=EARLIER)
    price("clip", "1.50", provider="pika", model="*", effective_from=EARLIER)

    veo = price_for("gemini", "veo-3")
    assert (veo.known, veo.unit, veo.amount) == (True, "second", Decimal("0.75"))
    assert (veo.input_per_1k, veo.output_per_1k) == (0, 0)
    assert cost_for_quantity(veo, Decimal(8)) == Decimal("6.00000000")
    # The same lookup rules as for tokens: the longest priced prefix, then the provider's *.
    assert price_for("gemini", "veo-3-fast-generate-001").amount == Decimal("0.75")
    pika = price_for("pika", "pika-2")
    assert (pika.unit, pika.amount) == ("clip", Decimal("1.50"))
    # The provider's LLM prices are untouched: per token, no amount.
    flash = price_for("gemini", "gemini-2.5-flash")
    assert (flash.unit, flash.amount, flash.input_per_1k) == ("token", 0, Decimal("0.0003"))


@pytest.mark.django_db
def test_lookup_by_unit_refuses_a_price_in_another_unit():
    price("second", "0.75", provider="gemini", model="veo-3", effective_from=EARLIER)
    assert price_for("gemini", "veo-3", unit="second").known
    # A video model without its own row does not take the provider's per-token * price...
    unpriced = price_for("gemini", "veo-4", unit="second")
    assert (unpriced.known, unpriced.unit, unpriced.amount) == (False, "second", 0)
    assert price_for("gemini", "veo-4").unit == "token"  # (which is the row without a unit)
    # ...nor does an LLM call take a per-second price: it is no per-token price.
    assert price_for("gemini", "veo-3", unit="token").known is False
    assert cost_for("gemini", "veo-3", 1000, 1000) == 0
    assert expected_cost("gemini", "veo-3", input_tokens=1000, output_tokens=1000) == 0
    assert call_expected_cost("gemini", "veo-3", 1000, 1000) == 0
    assert price_for("gemini", "gemini-2.5-flash", unit="token").known


@pytest.mark.django_db
def test_a_later_row_can_change_a_model_s_unit():
    later = timezone.now() + datetime.timedelta(days=30)
    price("clip", "2.00", effective_from=EARLIER)
    price("second", "0.40", effective_from=later)
    now, then = price_for("veo", "veo-3"), price_for("veo", "veo-3", at=later)
    assert (now.unit, now.amount) == ("clip", Decimal("2.00"))
    assert (then.unit, then.amount) == ("second", Decimal("0.40"))
    # Per clip was the old price: asked by unit at the later moment, there is none.
    assert price_for("veo", "veo-3", at=later, unit="clip").known is False


@pytest.mark.django_db
def test_budgets_refuse_an_llm_call_whose_model_is_priced_per_second():
    price("second", "0.75", provider="gemini", model="veo-3", effective_from=EARLIER)
    Budget.objects.create(scope=Budget.Scope.GLOBAL, limit_usd=Decimal(100), name="Studio")
    call: dict[str, Any] = {"user_id": None, "project_id": None, "provider": "gemini"}
    with pytest.raises(BudgetExceeded, match="“Studio” cannot be kept: gemini/veo-3 has no price"):
        budget_check_call(**call, model="veo-3", input_tokens=10, max_output_tokens=10)
    assert budget_check_call(
        **call, model="gemini-2.5-flash", input_tokens=1000, max_output_tokens=1000
    ) == Decimal("0.00280000")


# What a row holds ------------------------------------------------------------------------------


def errors_of(**fields: Any) -> set[str]:
    fields.setdefault("provider", "veo")
    fields.setdefault("model", "veo-3")
    try:
        Price(**fields).full_clean()
    except ValidationError as exc:
        return set(exc.message_dict)
    return set()


@pytest.mark.django_db
def test_each_unit_has_its_own_fields():
    one = Decimal(1)
    assert errors_of(unit="token", input_per_1k=one, output_per_1k=one) == set()
    assert errors_of(unit="second", amount=one) == set()
    assert errors_of(unit="clip", amount=Decimal(0)) == set()  # free is a price
    assert errors_of(unit="token", output_per_1k=one) == {"input_per_1k"}
    assert errors_of(unit="token") == {"input_per_1k", "output_per_1k"}
    assert errors_of(unit="token", input_per_1k=one, output_per_1k=one, amount=one) == {"amount"}
    assert errors_of(unit="second") == {"amount"}
    assert errors_of(unit="clip", amount=one, input_per_1k=one) == {"input_per_1k"}
    assert errors_of(unit="second", amount=one, output_per_1k=one) == {"output_per_1k"}
    assert errors_of(unit="second", amount=Decimal("-0.01")) == {"amount"}
    assert errors_of(unit="minute", amount=one) == {"unit"}

    with pytest.raises(ValidationError) as info:
        Price(provider="veo", model="veo-3", unit="second").full_clean()
    assert info.value.message_dict["amount"] == [
        "A per-second price needs its amount (USD per second)."
    ]
    with pytest.raises(ValidationError) as info:
        Price(provider="openai", model="x", output_per_1k=one).full_clean()  # token by default
    assert info.value.message_dict["input_per_1k"] == [
        "A per-token price needs its input price (USD per 1K tokens)."
    ]
    with pytest.raises(ValidationError) as info:
        Price(provider="veo", model="x", unit="clip", amount=one, input_per_1k=one).full_clean()
    assert "A per-clip price has no token prices" in info.value.message_dict["input_per_1k"][0]


@pytest.mark.django_db
def test_the_database_refuses_a_row_that_does_not_match_its_unit():
    one = Decimal(1)
    wrong: list[dict[str, Any]] = [
        {"unit": "second"},
        {"unit": "clip", "amount": one, "input_per_1k": one, "output_per_1k": one},
        {"unit": "token", "input_per_1k": one, "output_per_1k": one, "amount": one},
        {"unit": "token", "input_per_1k": one},
        {"unit": "second", "amount": Decimal("-1")},
        {"unit": "minute", "amount": one},
    ]
    for number, fields in enumerate(wrong):
        with pytest.raises(IntegrityError), transaction.atomic():
            Price.objects.create(provider="veo", model=f"m{number}", **fields)
    assert not Price.objects.filter(provider="veo").exists()
    stored = Price.objects.get(pk=price("second", "0.75").pk)
    assert str(stored) == "veo/veo-3: 0.750000 per second"
    assert str(Price.objects.get(provider="openai", model="gpt-4o")) == (
        "openai/gpt-4o: 0.002500 in, 0.010000 out"
    )


@pytest.mark.django_db
def test_admin_lists_filters_and_validates_prices_by_unit(make_user):
    price("second", "0.75", provider="gemini", model="veo-3", effective_from=EARLIER)
    price("clip", "1.5", provider="pika", model="*", effective_from=EARLIER)
    web = Client()
    web.force_login(make_user(is_staff=True, is_superuser=True))

    page = web.get("/admin/costs/price/").content.decode()
    for header in ("Unit", "Input (USD per 1K tokens)", "Amount (USD)"):
        assert header in page
    assert "Seconds of video" in page
    per_clip = web.get("/admin/costs/price/?unit__exact=clip").content.decode()
    assert "pika" in per_clip
    assert "veo-3" not in per_clip
    assert "gpt-4o-mini" not in per_clip

    form = {"provider": "luma", "model": "ray-test", "effective_from_0": "2026-01-01"}
    form["effective_from_1"] = "00:00:00"
    response = web.post(
        "/admin/costs/price/add/", {**form, "unit": "second", "input_per_1k": "0.1"}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["amount"] == ["A per-second price needs its amount (USD per second)."]
    assert "has no token prices" in errors["input_per_1k"][0]
    response = web.post("/admin/costs/price/add/", {**form, "unit": "token", "amount": "1"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"input_per_1k", "output_per_1k", "amount"}
    assert not Price.objects.filter(model="ray-test").exists()

    response = web.post("/admin/costs/price/add/", {**form, "unit": "second", "amount": "0.07"})
    assert response.status_code == 302
    made = Price.objects.get(provider="luma", model="ray-test")
    assert (made.unit, made.amount, made.input_per_1k) == ("second", Decimal("0.07"), None)


# The migration ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_units_migration_keeps_every_existing_row_a_token_price():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("costs")
    executor.migrate([("costs", "0003_budgets")])
    try:
        executor.loader.build_graph()
        before = executor.loader.project_state(("costs", "0003_budgets")).apps
        OldPrice = before.get_model("costs", "Price")
        assert "unit" not in {field.name for field in OldPrice._meta.get_fields()}
        OldPrice.objects.create(
            provider="openai",
            model="gpt-legacy",
            input_per_1k=Decimal("0.001234"),
            output_per_1k=Decimal("0"),
            effective_from=EARLIER,
        )
        rows_before = OldPrice.objects.count()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)

    assert Price.objects.count() == rows_before
    assert set(Price.objects.values_list("unit", flat=True)) == {"token"}
    assert not Price.objects.filter(amount__isnull=False).exists()
    legacy = Price.objects.get(model="gpt-legacy")
    assert (legacy.input_per_1k, legacy.output_per_1k) == (Decimal("0.001234"), Decimal(0))
    assert price_for("openai", "gpt-legacy").unit == "token"
    assert cost_for("openai", "gpt-legacy", 1000, 0) == Decimal("0.00123400")


@pytest.mark.django_db
def test_the_seed_migration_still_seeds_token_prices():
    module = import_module(SEED)
    Price.objects.all().delete()
    module.seed(installed_apps, None)
    assert Price.objects.count() == len(module.PRICES)
    assert set(Price.objects.values_list("unit", flat=True)) == {"token"}
    module.seed(installed_apps, None)  # again: nothing doubled
    assert Price.objects.count() == len(module.PRICES)
    assert price_for("openai", "gpt-4o-mini").input_per_1k == Decimal("0.00015")


@pytest.mark.django_db
def test_admin_provider_fields_are_choices_from_the_registries(make_user, settings):
    """Prices, budgets and credentials choose their provider from the LLM and video
    registries; the ledger filters by them; a name no registry has is refused."""
    web = Client()
    web.force_login(make_user(is_staff=True, is_superuser=True))
    for url in (
        "/admin/costs/price/add/",
        "/admin/costs/budget/add/",
        "/admin/costs/providercredential/add/",
    ):
        response = web.get(url)
        assert response.status_code == 200
        field = response.context["adminform"].form.fields["provider"]
        groups = dict(field.choices)
        assert [alias for alias, _ in groups["LLM providers"]] == list(settings.LLM_PROVIDERS)
        assert [alias for alias, _ in groups["Video providers"]] == [
            alias for alias in settings.VIDEO_PROVIDERS if alias not in settings.LLM_PROVIDERS
        ]
        page = response.content.decode()
        assert '<select name="provider"' in page
        assert '<optgroup label="Video providers">' in page
        assert '<option value="runway">runway</option>' in page
    budget = web.get("/admin/costs/budget/add/").content.decode()
    assert '<option value="" selected>Every provider</option>' in budget

    response = web.post(
        "/admin/costs/providercredential/add/", {"provider": "kling", "enabled": "on"}
    )
    assert response.status_code == 200
    assert "Unknown provider 'kling'" in response.context["adminform"].form.errors["provider"][0]

    price("clip", "0.5", provider="legacy", model="old-1", effective_from=EARLIER)
    stale = Price.objects.get(provider="legacy")
    edit = web.get(f"/admin/costs/price/{stale.pk}/change/").content.decode()
    assert '<option value="legacy" selected>legacy (in no registry)</option>' in edit

    ledger = web.get("/admin/costs/costrecord/").content.decode()
    assert "?provider=openai" in ledger and "?provider=runway" in ledger
