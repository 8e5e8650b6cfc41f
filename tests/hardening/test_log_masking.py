"""A provider secret the studio was handed never reaches its logs, whoever logs it: the record
factory masks it in the message and in the exception text before any handler formats it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import include, path

from generation.costs import crypto
from generation.costs.models import ProviderCredential

CONFIGURED = "sk-configured-for-masking-a1b2"
STORED = "sk-stored-in-database-c3d4e5"
NEVER_GIVEN = "sk-never-given-to-the-studio-f6"


def _providers_with(key: str, settings: Any) -> None:
    providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
    providers["openai"] = {**providers["openai"], "OPTIONS": {"api_key": key, "model": "m"}}
    settings.LLM_PROVIDERS = providers


def test_a_configured_key_is_masked_in_the_message_and_the_traceback(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _providers_with(CONFIGURED, settings)
    log = logging.getLogger("aura.test.masking")
    try:
        raise RuntimeError(f"upstream refused {CONFIGURED}")
    except RuntimeError:
        log.exception("calling with %s failed", CONFIGURED)
    log.warning("unrelated %s", NEVER_GIVEN)

    assert CONFIGURED not in caplog.text
    hint = crypto.mask_secret(CONFIGURED)
    assert f"calling with {hint} failed" in caplog.text
    assert f"RuntimeError: upstream refused {hint}" in caplog.text
    assert NEVER_GIVEN in caplog.text


@pytest.mark.django_db
def test_a_key_read_from_the_database_is_masked_from_then_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    row = ProviderCredential.objects.create(
        provider="anthropic", api_key_encrypted=crypto.encrypt(STORED)
    )
    logging.getLogger("aura.test.masking").error("before the studio read it: %s", STORED)
    assert STORED in caplog.text
    caplog.clear()

    assert ProviderCredential.objects.get(pk=row.pk).api_key() == STORED
    logging.getLogger("aura.test.masking").error("after: %s", STORED)
    assert STORED not in caplog.text
    assert crypto.mask_secret(STORED) in caplog.text


def _boom(request: Any) -> Any:
    raise RuntimeError(f"failed while holding {CONFIGURED}")


urlpatterns = [path("boom/", _boom), path("", include("aura_site.urls"))]


@pytest.mark.django_db
@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_a_500_with_a_key_in_its_exception_logs_the_hint(
    settings: Any, caplog: pytest.LogCaptureFixture, django_user_model: Any
) -> None:
    _providers_with(CONFIGURED, settings)
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_user("masking", password="x" * 12))
    response = client.get("/boom/")
    assert response.status_code == 500
    request_errors = [r for r in caplog.records if r.name == "django.request"]
    assert request_errors, caplog.text
    assert CONFIGURED not in caplog.text
    assert f"failed while holding {crypto.mask_secret(CONFIGURED)}" in caplog.text
