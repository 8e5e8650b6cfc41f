"""Prices, Decimal cost arithmetic, the append-only ledger and encrypted credentials."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.utils import timezone

from generation.costs import crypto
from generation.costs.credentials import credential_overrides
from generation.costs.models import AppendOnlyError, CostRecord, Price, ProviderCredential
from generation.costs.services import cost_for, cost_record_create, expected_cost, price_for
from generation.costs.tokens import estimate_tokens

pytestmark = pytest.mark.django_db


def test_seeded_prices_cover_every_provider():
    for provider in ("rulebased", "ollama", "openai", "azure", "anthropic", "gemini"):
        assert price_for(provider, "anything").known, provider
    mini = price_for("openai", "gpt-4o-mini")
    assert mini.input_per_1k == Decimal("0.00015")
    assert mini.output_per_1k == Decimal("0.0006")
    assert price_for("azure", "gpt-4o").input_per_1k == price_for("openai", "gpt-4o").input_per_1k
    assert price_for("ollama", "llama3.2").output_per_1k == 0


def test_cost_is_exact_decimal():
    cost = cost_for("openai", "gpt-4o-mini", 1000, 1000)
    assert cost == Decimal("0.00075000")
    assert isinstance(cost, Decimal)
    tiny = cost_for("openai", "gpt-4o-mini", 1, 1)
    assert tiny == Decimal("0.00000075")
    assert cost_for("anthropic", "claude-sonnet-4-5", 12, 6) == Decimal("0.00012600")


def test_dated_model_names_take_the_longest_priced_prefix():
    assert price_for("azure", "gpt-4o-mini-2024-07-18").input_per_1k == Decimal("0.00015")
    assert price_for("openai", "gpt-4o-2024-08-06").input_per_1k == Decimal("0.0025")


def test_price_in_effect_at_a_moment():
    later = timezone.now() + datetime.timedelta(days=30)
    Price.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_1k=Decimal("1"),
        output_per_1k=Decimal("2"),
        effective_from=later,
    )
    assert price_for("openai", "gpt-4o-mini").input_per_1k == Decimal("0.00015")
    assert price_for("openai", "gpt-4o-mini", at=later).input_per_1k == Decimal("1")


def test_unknown_provider_price_is_flagged():
    quote = price_for("nobody", "x")
    assert quote.known is False
    assert quote.input_per_1k == 0


def test_expected_cost_and_estimates():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert expected_cost("openai", "gpt-4o-mini", prompt="x" * 4000, output_tokens=1000) == Decimal(
        "0.00075000"
    )


def test_cost_records_are_append_only():
    record = cost_record_create(
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        reported=True,
        outcome="succeeded",
        run_id="r1",
    )
    assert record.cost == Decimal("0.00000450")
    assert (record.input_tokens, record.output_tokens, record.reported) == (10, 5, True)
    record.cost = Decimal("0")
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()
    assert CostRecord.objects.get(pk=record.pk).cost == Decimal("0.00000450")


def test_encryption_round_trip_and_masking(settings):
    settings.AURA_FIELD_ENCRYPTION_KEYS = []
    token = crypto.encrypt("sk-live-abcdef123456")
    assert "sk-live" not in token
    assert crypto.decrypt(token) == "sk-live-abcdef123456"
    assert crypto.mask_secret("sk-live-abcdef123456") == "sk-…3456"
    assert crypto.mask_secret("short") == "…rt"


def test_rotation_re_encrypts_with_the_newest_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.AURA_FIELD_ENCRYPTION_KEYS = [old]
    credential = ProviderCredential(provider="openai")
    credential.set_api_key("sk-rotate-me-9876")
    credential.save()
    before = ProviderCredential.objects.get(pk=credential.pk).api_key_encrypted
    assert Fernet(old.encode()).decrypt(before.encode()) == b"sk-rotate-me-9876"

    settings.AURA_FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_credentials", stdout=open("/dev/null", "w"))  # noqa: SIM115
    after = ProviderCredential.objects.get(pk=credential.pk).api_key_encrypted
    assert after != before
    assert Fernet(new.encode()).decrypt(after.encode()) == b"sk-rotate-me-9876"

    settings.AURA_FIELD_ENCRYPTION_KEYS = [new]
    assert ProviderCredential.objects.get(pk=credential.pk).api_key() == "sk-rotate-me-9876"


def test_default_key_from_secret_key_migrates_to_configured_keys(settings):
    settings.AURA_FIELD_ENCRYPTION_KEYS = []
    token = crypto.encrypt("sk-default")
    settings.AURA_FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert crypto.decrypt(token) == "sk-default"


def test_bad_configured_key_is_a_clear_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.AURA_FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="AURA_FIELD_ENCRYPTION_KEYS entry 1"):
        crypto.encrypt("x")


def test_unreadable_secret_is_reported_not_crashing(settings):
    settings.AURA_FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    credential = ProviderCredential(provider="anthropic", model="claude-haiku-4-5")
    credential.set_api_key("sk-ant-x")
    credential.save()
    settings.AURA_FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.SECRET_KEY = "another-secret-key-entirely-different-0123456789"
    overrides = credential_overrides()
    assert overrides["anthropic"] == {"model": "claude-haiku-4-5"}


def test_credential_overrides_invalidate_on_save(settings):
    settings.AURA_FIELD_ENCRYPTION_KEYS = []
    credential = ProviderCredential(provider="openai", model="gpt-4o")
    credential.set_api_key("sk-first-1111")
    credential.save()
    assert credential_overrides()["openai"]["api_key"] == "sk-first-1111"
    credential.set_api_key("sk-second-2222")
    credential.save()
    assert credential_overrides()["openai"]["api_key"] == "sk-second-2222"
    credential.enabled = False
    credential.save()
    assert "openai" not in credential_overrides()
