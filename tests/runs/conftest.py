"""Fixtures of the runs tests: a loopback fake of the OpenAI API that the studio streams from."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from generation.benchmarks.fake_openai import FakeOpenAIServer


@pytest.fixture
def fake_openai(settings: Any) -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI server (30 tokens of "tok " at 200 tokens/s) set as the ``openai``
    provider; Ollama points at a closed port, so a chain ends on RuleBased."""
    from generation.providers import registry

    with FakeOpenAIServer(tokens=30, tokens_per_second=200.0, piece="tok ") as fake:
        providers = {alias: dict(config) for alias, config in settings.LLM_PROVIDERS.items()}
        providers["openai"] = {
            **providers["openai"],
            "OPTIONS": {"api_key": "sk-test", "base_url": fake.base_url, "model": "gpt-4o-mini"},
        }
        providers["ollama"] = {
            **providers["ollama"],
            "OPTIONS": {"base_url": "http://127.0.0.1:9", "model": "llama3.2"},
        }
        settings.LLM_PROVIDERS = providers
        registry.reset()
        yield fake
        registry.reset()


@pytest.fixture
def fast_runs(settings: Any) -> None:
    settings.AURA_RUN_HEARTBEAT_SECONDS = 0.2
    settings.AURA_RUN_IDLE_POLL_SECONDS = 0.3
    settings.AURA_RUN_CANCEL_WAIT_SECONDS = 5


@pytest.fixture
def editor_project(make_user: Callable[..., Any], make_project: Callable[..., Any]) -> Any:
    owner = make_user()
    return make_project(owner=owner)
