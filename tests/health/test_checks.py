"""The free listing call: only for providers that are set up, at most once a minute, off unless
turned on; it tells "unreachable" from "no traffic yet". Against loopback fakes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from generation.health.models import ProviderCheck
from generation.health.selectors import aproviders_health
from tests.fakes.providers import FakeProviderServer, json_reply, ollama_tags, openai_error
from tests.fakes.videos import FakeNeura
from tests.health.conftest import closed_port_url, configure_llms
from tests.videos.conftest import configure_videos

pytestmark = pytest.mark.django_db(transaction=True)


async def states(family: str | None = None) -> dict[str, str]:
    return {item.alias: item.state for item in await aproviders_health(family)}


async def test_not_set_up_no_traffic_and_the_offline_provider(settings: Any) -> None:
    found = {item.alias: item for item in await aproviders_health("llm")}
    assert found["openai"].state == "not_set_up"
    assert "OPENAI_API_KEY" in found["openai"].reason
    assert found["rulebased"].state == "healthy"
    # Ollama is set up (on a closed port here) but nothing called it and checks are off
    assert found["ollama"].state == "no_traffic"
    assert found["ollama"].state_label == "no traffic yet"
    assert not await ProviderCheck.objects.aexists()


async def test_the_listing_call_is_made_at_most_once_a_minute(
    settings: Any, fake: FakeProviderServer
) -> None:
    settings.AURA_PROVIDER_CHECKS = True
    configure_llms(settings, ollama={"base_url": fake.base_url, "model": "llama3.2"})
    fake.push(ollama_tags("llama3.2:latest"))

    assert (await states("llm"))["ollama"] == "healthy"
    assert (await states("llm"))["ollama"] == "healthy"
    assert (await states())["ollama"] == "healthy"
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/api/tags")]
    check = await ProviderCheck.objects.aget(provider="ollama")
    assert check.ok is True and check.latency_ms is not None

    # a minute later, the next look checks again
    await ProviderCheck.objects.filter(pk=check.pk).aupdate(
        started_at=check.started_at - timedelta(seconds=61)
    )
    fake.push(json_reply(500, {"error": "model runner crashed"}))
    found = {item.alias: item for item in await aproviders_health("llm")}
    assert len(fake.requests) == 2
    assert found["ollama"].state == "unreachable"
    assert found["ollama"].check is not None
    assert found["ollama"].check.ok is False
    assert "crashed" in found["ollama"].check.message
    # the providers that are not set up were never called, nor was RuleBased
    assert {c.provider async for c in ProviderCheck.objects.all()} == {"ollama"}


async def test_a_provider_nobody_can_reach_is_unreachable(settings: Any) -> None:
    settings.AURA_PROVIDER_CHECKS = True
    assert (await states("llm"))["ollama"] == "unreachable"
    check = await ProviderCheck.objects.aget(provider="ollama")
    assert check.ok is False and check.error_kind == "network"


async def test_a_cloud_listing_call_is_the_free_model_list_and_keeps_the_key_out(
    settings: Any, fake: FakeProviderServer
) -> None:
    settings.AURA_PROVIDER_CHECKS = True
    key = "sk-live-abcdefghijklmnop1234"
    configure_llms(settings, openai={"api_key": key, "base_url": fake.url("/v1")})
    fake.push(openai_error(401, f"Incorrect API key provided: {key}"))
    found = {item.alias: item for item in await aproviders_health("llm")}
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v1/models")]
    assert found["openai"].state == "unreachable"
    assert found["openai"].check is not None and found["openai"].check.kind == "auth"
    assert key not in found["openai"].check.message


async def test_a_slow_listing_call_is_cut_short(settings: Any, fake: FakeProviderServer) -> None:
    from tests.fakes.providers import HANG, Reply

    settings.AURA_PROVIDER_CHECKS = True
    settings.AURA_PROVIDER_CHECK_TIMEOUT_SECONDS = 0.3
    configure_llms(settings, ollama={"base_url": fake.base_url, "model": "llama3.2"})
    fake.push(Reply(200, {"content-type": "application/json"}, [HANG]))
    found = {item.alias: item for item in await aproviders_health("llm")}
    assert found["ollama"].state == "unreachable"
    assert found["ollama"].check is not None and found["ollama"].check.kind == "timeout"


async def test_a_video_provider_is_checked_with_its_free_health_call(settings: Any) -> None:
    settings.AURA_PROVIDER_CHECKS = True
    with FakeNeura() as neura:
        configure_videos(settings, neura={"base_url": neura.base_url, "api_key": neura.api_key})
        found = {item.alias: item for item in await aproviders_health("video")}
        paths = [r.path for r in neura.api_requests]
    assert found["neura"].state == "healthy"
    assert paths == ["/api/v1/health"]
    assert found["runway"].state == "not_set_up"
    assert found["neura"].facts.circuit is None


async def test_checks_stay_off_unless_turned_on(settings: Any) -> None:
    configure_llms(settings, ollama={"base_url": closed_port_url(), "model": "llama3.2"})
    assert (await states("llm"))["ollama"] == "no_traffic"
    assert not await ProviderCheck.objects.aexists()
