"""The registry (chains, admin credentials over the environment), GET /api/v1/providers, the
stream command and the admin's key handling."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.chain import policy
from generation.costs.models import CostRecord, ProviderCredential
from generation.providers import registry
from generation.providers.base import CompletionRequest, ProviderError
from generation.providers.openai import OpenAIProvider
from tests.fakes.providers import (
    FakeProviderServer,
    json_reply,
    ollama_error,
    ollama_tags,
    openai_error,
    openai_stream,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean(settings: Any):
    cache.clear()
    registry.reset()
    providers = {
        alias: {**config, "OPTIONS": dict(config["OPTIONS"])}
        for alias, config in settings.LLM_PROVIDERS.items()
    }
    for alias in ("openai", "anthropic", "gemini", "azure"):
        providers[alias]["OPTIONS"]["api_key"] = ""
    providers["rulebased"]["OPTIONS"]["pace_ms"] = 0
    settings.LLM_PROVIDERS = providers
    settings.AURA_AUTO_CHAIN = ["openai", "anthropic", "gemini", "azure", "ollama", "rulebased"]
    yield
    registry.reset()
    cache.clear()


@pytest.fixture
def web():
    from django.test import Client

    return Client()


def configure(settings: Any, alias: str, **options: Any) -> None:
    settings.LLM_PROVIDERS[alias]["OPTIONS"].update(options)


def test_auto_keeps_configured_providers_and_ends_with_rulebased(settings):
    configure(settings, "ollama", model="")
    assert policy.resolve_chain("auto") == ["rulebased"]
    configure(settings, "gemini", api_key="g-key")
    configure(settings, "openai", api_key="o-key")
    configure(settings, "ollama", model="llama3.2")
    # On the defaults Ollama is left out until it has answered once.
    assert policy.resolve_chain("auto") == ["openai", "gemini", "rulebased"]
    configure(settings, "ollama", explicit=True)
    assert policy.resolve_chain("auto") == ["openai", "gemini", "ollama", "rulebased"]
    settings.AURA_AUTO_CHAIN = ["rulebased", "gemini"]
    assert policy.resolve_chain("auto") == ["gemini", "rulebased"]


def test_explicit_choice_then_ollama_then_rulebased(settings):
    assert policy.resolve_chain("anthropic") == ["anthropic", "rulebased"]  # Ollama not set up
    configure(settings, "ollama", explicit=True)
    assert policy.resolve_chain("anthropic") == ["anthropic", "ollama", "rulebased"]
    assert policy.resolve_chain("ollama") == ["ollama", "rulebased"]
    assert policy.resolve_chain("rulebased") == ["rulebased"]
    configure(settings, "ollama", model="")
    assert policy.resolve_chain("openai") == ["openai", "rulebased"]


async def test_ollama_on_the_defaults_is_set_up_once_it_has_answered(monkeypatch):
    from generation.providers import ollama as ollama_module

    with FakeProviderServer() as fake:
        monkeypatch.setattr(ollama_module, "DEFAULT_BASE_URL", fake.base_url)
        monkeypatch.setattr(ollama_module, "_answered", set())
        provider = ollama_module.OllamaProvider(
            "ollama", {"base_url": fake.base_url, "model": "llama3.2"}
        )
        assert not provider.is_configured()
        fake.push(ollama_tags("llama3.2:latest", "qwen2.5:7b"))
        assert await provider.tags() == ("llama3.2:latest", "qwen2.5:7b")
        assert provider.is_configured()
        ollama_module._answered.clear()  # another process: it reads the shared cache
        assert provider.is_configured()

        fake.push(ollama_error(404, 'model "mistral" not found, try pulling it first'))
        request = CompletionRequest.from_prompt("hi", model="mistral")
        with pytest.raises(ProviderError) as failed:
            async for _event in provider.stream(request):
                pass
        assert "this Ollama has llama3.2:latest, qwen2.5:7b" in failed.value.message


def test_unknown_provider_is_a_clear_error():
    with pytest.raises(registry.UnknownProvider, match=r"Unknown provider 'gpt5'.*auto, rulebased"):
        policy.resolve_chain("gpt5")
    with pytest.raises(registry.UnknownProvider):
        registry.get_provider("gpt5")


def test_admin_credentials_win_over_the_environment(settings):
    configure(settings, "openai", api_key="env-key", model="gpt-4o-mini")
    provider = registry.get_provider("openai")
    assert isinstance(provider, OpenAIProvider)
    assert provider.options["api_key"] == "env-key"
    credential = ProviderCredential(provider="openai", model="gpt-4o")
    credential.set_api_key("admin-key")
    credential.save()
    provider = registry.get_provider("openai")
    assert provider.options["api_key"] == "admin-key"
    assert provider.default_model == "gpt-4o"
    assert "api_key" not in ProviderCredential.objects.values()[0]


def test_providers_route_lists_every_provider(web, make_user, settings):
    with FakeProviderServer() as ollama:
        ollama.push(ollama_tags("llama3.2:latest"))
        configure(settings, "ollama", base_url=ollama.base_url)
        configure(settings, "openai", api_key="sk-x")
        web.force_login(make_user())
        response = web.get("/api/v1/providers")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    assert set(rows) == {"rulebased", "ollama", "openai", "azure", "anthropic", "gemini"}
    openai = rows["openai"]
    assert openai["location"] == "cloud"
    assert openai["configured"] is True
    assert openai["healthy"] is True
    assert openai["price_per_1k_input"] == "0.000150"
    assert openai["price_per_1k_output"] == "0.000600"
    assert openai["models"] == ["gpt-4o-mini"]
    assert openai["supports_streaming"] is True
    assert rows["anthropic"]["configured"] is False
    assert rows["anthropic"]["healthy"] is False
    assert "ANTHROPIC_API_KEY" in rows["anthropic"]["how_to_configure"]
    assert rows["ollama"]["location"] == "local"
    assert rows["ollama"]["healthy"] is True
    assert "llama3.2:latest" in rows["ollama"]["models"]
    assert rows["rulebased"]["tier"] == "free"
    assert rows["rulebased"]["price_per_1k_input"] == "0.000000"


def test_providers_route_needs_authentication(web):
    response = web.get("/api/v1/providers")
    assert response.status_code == 401


def test_stream_command_prints_text_and_metrics(settings):
    with FakeProviderServer() as fake:
        fake.push(openai_stream(["Hel", "lo"], usage=(9, 2)))
        configure(settings, "openai", api_key="sk-cli", base_url=fake.url("/v1"))
        out = io.StringIO()
        call_command(
            "stream", provider="openai", prompt="Say hello", stdout=out, stderr=io.StringIO()
        )
    text = out.getvalue()
    assert text.startswith("Hello\n")
    metrics = text.strip().splitlines()[-1]
    assert metrics.startswith("provider=openai model=gpt-4o-mini ttft_ms=")
    assert "tokens=2 " in metrics
    assert "reported=true" in metrics
    assert "cost=0.00000255 USD" in metrics
    assert CostRecord.objects.filter(run_id="cli", provider="openai").count() == 1


def test_stream_command_falls_back_and_says_why(settings):
    with FakeProviderServer() as fake:
        fake.push(openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
        configure(settings, "openai", api_key="sk-bad", base_url=fake.url("/v1"))
        configure(settings, "ollama", model="")
        out, err = io.StringIO(), io.StringIO()
        call_command("stream", provider="openai", prompt="Say hello", stdout=out, stderr=err)
    assert "[openai -> rulebased] auth" in err.getvalue()
    assert "provider=rulebased" in out.getvalue().strip().splitlines()[-1]
    assert "You asked: Say hello" in out.getvalue()


def test_stream_command_with_rulebased_answers_plainly_offline():
    out = io.StringIO()
    call_command(
        "stream",
        provider="rulebased",
        prompt="Suggest a title for a video about tide pools",
        stdout=out,
        stderr=io.StringIO(),
    )
    *text, metrics = out.getvalue().strip().splitlines()
    reply = "\n".join(text)
    assert reply.startswith("This is an offline template reply from RuleBased")
    assert "You asked: Suggest a title for a video about tide pools" in reply
    assert "## " not in reply
    assert metrics.startswith("provider=rulebased model=template-v1 ")
    assert "reported=false" in metrics and "cost=0.00000000 USD" in metrics


def test_stream_command_unknown_provider_fails():
    with pytest.raises(CommandError, match="Unknown provider"):
        call_command("stream", provider="nope", prompt="x", stdout=io.StringIO())


def test_admin_stores_keys_encrypted_shows_them_masked_and_tests_them(web, make_user, settings):
    admin = make_user(is_staff=True, is_superuser=True)
    web.force_login(admin)
    response = web.post(
        "/admin/costs/providercredential/add/",
        {
            "provider": "openai",
            "api_key": "sk-admin-secret-7777",
            "model": "gpt-4o-mini",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content[:500]
    credential = ProviderCredential.objects.get(provider="openai")
    assert "sk-admin-secret-7777" not in credential.api_key_encrypted
    assert credential.key_hint == "sk-…7777"
    page = web.get(f"/admin/costs/providercredential/{credential.pk}/change/").content.decode()
    assert "sk-admin-secret-7777" not in page
    assert "sk-…7777" in page
    listing = web.get("/admin/costs/providercredential/").content.decode()
    assert "sk-admin-secret-7777" not in listing

    with FakeProviderServer() as fake:
        fake.push(json_reply(200, {"object": "list", "data": [{"id": "gpt-4o-mini"}]}))
        credential.base_url = fake.url("/v1")
        credential.save()
        response = web.post(
            "/admin/costs/providercredential/",
            {"action": "test_key", "_selected_action": [credential.pk]},
            follow=True,
        )
        assert fake.requests[0].headers["authorization"] == "Bearer sk-admin-secret-7777"
        assert "openai: key accepted" in response.content.decode().lower()

        fake.push(openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
        response = web.post(
            "/admin/costs/providercredential/",
            {"action": "test_key", "_selected_action": [credential.pk]},
            follow=True,
        )
    assert "openai: auth: http 401: incorrect api key provided" in response.content.decode().lower()


def test_key_test_is_the_registry_s_and_says_so_when_none_is_registered(monkeypatch):
    from generation.costs import credentials
    from videos.keys import video_key_test

    registered = [tester for _, tester in credentials._key_testers]
    assert registry.key_test in registered and video_key_test in registered
    handler = next(t for h, t in reversed(credentials._key_testers) if h("runway"))
    assert handler is video_key_test  # the video registry tests the video providers' keys
    handler = next(t for h, t in reversed(credentials._key_testers) if h("openai"))
    assert handler is registry.key_test
    monkeypatch.setattr(credentials, "_key_testers", [])
    with pytest.raises(credentials.KeyTestFailed, match="no key test is available"):
        credentials.credential_test("openai")
    credentials.key_tester_register(lambda alias: f"{alias} fine")
    assert credentials.credential_test("openai") == "openai fine"


def test_cost_ledger_admin_shows_totals(web, make_user):
    from decimal import Decimal

    from generation.costs.services import cost_record_create

    for _ in range(2):
        cost_record_create(
            provider="openai",
            model="gpt-4o-mini",
            input_tokens=1000,
            output_tokens=1000,
            reported=True,
            outcome="succeeded",
        )
    web.force_login(make_user(is_staff=True, is_superuser=True))
    page = web.get("/admin/costs/costrecord/?provider=openai").content.decode()
    assert f"total {Decimal('0.00150000')} USD over 2 records" in page
    assert web.get("/admin/costs/costrecord/add/").status_code == 403


@pytest.mark.parametrize(
    ("provider", "field", "url", "refused"),
    [
        ("azure", "endpoint", "http://169.254.169.254/latest/", True),  # cloud metadata
        ("openai", "base_url", "http://10.0.0.5/v1", True),
        ("openai", "base_url", "ftp://example.com/v1", True),
        ("openai", "base_url", "http://user:pw@example.com/v1", True),
        ("ollama", "base_url", "http://127.0.0.1:11434", False),  # Ollama's own setting
        ("openai", "base_url", "https://api.openai.com/v1", False),
    ],
)
def test_admin_refuses_a_base_url_the_studio_must_not_fetch(
    web, make_user, provider, field, url, refused
):
    admin = make_user(is_staff=True, is_superuser=True)
    web.force_login(admin)
    response = web.post(
        "/admin/costs/providercredential/add/",
        {"provider": provider, field: url, "enabled": "on"},
    )
    if refused:
        assert response.status_code == 200
        assert "This address is refused" in response.content.decode()
        assert not ProviderCredential.objects.exists()
    else:
        assert response.status_code == 302, response.content[:500]
